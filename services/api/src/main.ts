/**
 * The HTTP API process: `node services/api/dist/main.js`. Configuration comes from the
 * environment (SPEC.md); SIGTERM drains (readiness 503, `SHUTDOWN_DELAY_MS` of service, close)
 * and exits 0.
 */
import { apiEnvSchema, parseEnv, type ApiConfig } from '@sluice/core';

let config: ApiConfig;
try {
  config = parseEnv(apiEnvSchema, process.env);
} catch (err) {
  // Before a logger exists: say what is wrong on stderr and stop.
  console.error(`sluice api: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
try {
  // Loaded only once the configuration is known to be good, so a bad one fails fast.
  const { startApi } = await import('./start-api.js');
  await startApi(config);
} catch (err) {
  console.error(`sluice api: could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
