/**
 * The HTTP API process: `node services/api/dist/main.js`. Configuration comes from the
 * environment (SPEC.md); SIGTERM drains (readiness 503, `SHUTDOWN_DELAY_MS` of service, close)
 * and exits 0.
 */
import { apiEnvSchema } from '@sluice/core';
import { runMain } from '@sluice/core/process';

await runMain({
  name: 'sluice api',
  schema: apiEnvSchema,
  start: async (config) => (await import('./start-api.js')).startApi(config),
});
