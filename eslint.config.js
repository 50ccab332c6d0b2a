// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/** Packages by what they are; the layer rules below forbid them where they do not belong. */
const SERVER = ['fastify', '@fastify/*', 'fastify-*', '@bull-board/*', 'prom-client', 'pino'];
const QUEUE = ['bullmq', 'ioredis'];
const STORE = [
  'chromadb',
  'pdf-parse',
  'mammoth',
  'yauzl',
  'linkedom',
  '@mozilla/readability',
  'encoding-sniffer',
  '@langchain/*',
];
// tinyglobby is not among them: `syncFolder` walks folders from the SDK's own entry (it is small).
const CLI = ['commander', 'cli-progress'];

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'data/**',
      'coverage/**',
      'bench/results/**',
      'test/corpus/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // One program over sources, tests, benchmarks and scripts (tsconfig.test.json covers them all).
        project: ['./tsconfig.test.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'off',
      // Async handlers without await are idiomatic for Fastify routes and test doubles of callbacks.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      // Plain Node scripts (scripts/start.mjs): the Node globals they use.
      globals: {
        process: 'readonly',
        fetch: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        URL: 'readonly',
        console: 'readonly',
      },
    },
  },
  // Configuration is read once, at the edges (STYLE.md §6): only entry points see process.env.
  {
    files: ['packages/*/src/**/*.ts', 'services/*/src/**/*.ts'],
    ignores: ['**/*.test.ts', '**/main.ts', 'packages/sdk/src/cli.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration in main.ts and pass it down.' },
      ],
    },
  },
  // The layering, locked in (SPEC.md › Layout; STYLE.md §13): who may load what.
  ...layer(['packages/core/src/index.ts', 'packages/core/src/contract/**/*.ts'], {
    packages: [...SERVER, ...QUEUE, ...STORE, '@sluice/*'],
    relative: ['../queue/*', '../process/*', './queue/*', './process/*'],
    why: 'the contract needs zod only',
  }),
  ...layer(['packages/core/src/queue/**/*.ts'], {
    packages: [...SERVER, ...STORE, '@sluice/*'],
    relative: ['../process/*'],
    why: 'the queue layer needs bullmq and ioredis only',
  }),
  ...layer(['packages/core/src/process/**/*.ts'], {
    packages: [...STORE, '@sluice/*'],
    relative: [],
    why: 'core knows nothing of ingestion, the SDK or the services',
  }),
  ...layer(['packages/storage/src/**/*.ts'], {
    packages: [
      ...SERVER,
      ...QUEUE,
      ...STORE,
      '@sluice/core/*',
      '@sluice/ingest',
      '@sluice/sdk',
      '@sluice/api',
      '@sluice/worker',
    ],
    relative: [],
    why: 'storage holds uploads and nothing else: the contract and the AWS SDK',
  }),
  ...layer(['packages/ingest/src/**/*.ts'], {
    packages: [
      ...SERVER,
      ...QUEUE,
      '@sluice/core/*',
      '@sluice/sdk',
      '@sluice/sdk/*',
      '@sluice/api',
      '@sluice/worker',
    ],
    relative: [],
    why: 'ingest is a pure library over the contract: no queue, no process runtime',
  }),
  ...layer(['packages/sdk/src/**/*.ts'], {
    ignores: ['packages/sdk/src/redis*.ts', 'packages/sdk/src/cli*.ts'],
    packages: [
      ...SERVER,
      ...QUEUE,
      ...STORE,
      ...CLI,
      '@sluice/core/*',
      '@sluice/ingest',
      '@sluice/api',
      '@sluice/worker',
    ],
    relative: ['./redis-transport.js', './redis.js', './cli*.js'],
    why: 'the SDK entry is light: the Redis mode and the CLI load behind their own entry points',
  }),
  prettier,
);

/**
 * Forbids, in `files`, value imports of `packages` and of the `relative` paths (type-only imports
 * are erased at run time and stay allowed).
 * @param {string[]} files
 * @param {{ packages: string[]; relative: string[]; why: string; ignores?: string[] }} rule
 */
function layer(files, { packages, relative, why, ignores = [] }) {
  return [
    {
      files,
      ignores: ['**/*.test.ts', ...ignores],
      rules: {
        '@typescript-eslint/no-restricted-imports': [
          'error',
          {
            patterns: [
              { group: packages, message: `Not in this layer: ${why}.`, allowTypeImports: true },
              ...(relative.length
                ? [{ group: relative, message: `Not in this layer: ${why}.`, allowTypeImports: true }]
                : []),
            ],
          },
        ],
      },
    },
  ];
}
