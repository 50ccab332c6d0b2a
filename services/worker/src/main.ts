/**
 * The ingestion worker process: `node services/worker/dist/main.js`. Configuration comes from
 * the environment (SPEC.md); SIGTERM drains, preempts past DRAIN_TIMEOUT_MS and exits 0.
 */
import { parseEnv, workerEnvSchema, type WorkerConfig } from '@sluice/core';
import { startWorker } from './worker-service.js';

let config: WorkerConfig;
try {
  config = parseEnv(workerEnvSchema, process.env);
} catch (err) {
  // Before a logger exists: say what is wrong on stderr and stop.
  console.error(`sluice worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
await startWorker(config);
