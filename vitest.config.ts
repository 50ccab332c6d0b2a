import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'services/*/src/**/*.test.ts',
      'test/**/*.test.ts',
      'bench/**/*.test.ts',
    ],
    // One real Redis and one real Chroma for the whole run; every test uses its own prefix and
    // collection. Tests that restart a dependency start their own.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: more files at once only make the multi-process tests flakier.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
