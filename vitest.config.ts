import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * Every workspace package's entry points, mapped to their TypeScript source (the `source`
 * condition of each `exports` map): tests run against `src` without a build. Only the processes
 * that the e2e tests start run `dist/`.
 */
function sourceAliases(): { find: RegExp; replacement: string }[] {
  const aliases: { find: RegExp; replacement: string }[] = [];
  for (const group of ['packages', 'services']) {
    for (const dir of readdirSync(group)) {
      const root = resolve(group, dir);
      const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
        name: string;
        exports: Record<string, { source?: string }>;
      };
      for (const [subpath, conditions] of Object.entries(manifest.exports)) {
        if (!conditions.source) continue;
        const specifier = `${manifest.name}${subpath.slice(1)}`.replaceAll('/', '\\/');
        aliases.push({ find: new RegExp(`^${specifier}$`), replacement: join(root, conditions.source) });
      }
    }
  }
  return aliases;
}

/** Cross-package tests that need no service: deploy files, docs, the repository itself. */
const PLAIN_TEST_DIRS = 'test/{deploy,docs,repo}';
/** One real Redis and one real Chroma for the run; every test uses its own prefix and collection. */
const SERVICES = ['test/support/global-setup.ts'];

export default defineConfig({
  resolve: { alias: sourceAliases() },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: more files at once only make the multi-process tests flakier.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // No Redis, no Chroma, no child processes: pure logic, files and threads.
          include: [
            'packages/*/src/**/*.test.ts',
            'services/*/src/**/*.test.ts',
            `${PLAIN_TEST_DIRS}/**/*.test.ts`,
          ],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'int',
          // Real Redis and Chroma, in this process.
          include: [
            'packages/*/src/**/*.int.test.ts',
            'services/*/src/**/*.int.test.ts',
            'test/**/*.int.test.ts',
          ],
          globalSetup: SERVICES,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          // Real processes (API, workers, the rollout lab, benchmarks) on real Redis and Chroma.
          include: ['test/**/*.test.ts', 'bench/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', `${PLAIN_TEST_DIRS}/**`, '**/node_modules/**'],
          globalSetup: SERVICES,
        },
      },
    ],
  },
});
