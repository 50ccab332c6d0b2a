/**
 * The ingestion worker process: `node services/worker/dist/main.js`. Configuration comes from
 * the environment (SPEC.md); SIGTERM drains, preempts past DRAIN_TIMEOUT_MS and exits 0.
 */
import { workerEnvSchema } from '@sluice/core';
import { runMain } from '@sluice/core/process';

await runMain({
  name: 'sluice worker',
  schema: workerEnvSchema,
  start: async (config) => (await import('./worker-service.js')).startWorker(config),
});
