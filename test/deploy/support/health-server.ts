import type { AddressInfo } from 'node:net';
import { createHealthServer, createLogger, createWorkerMetrics } from '@sluice/core/process';

/** @sluice/core's probe and metrics server (the one the worker serves on HEALTH_PORT), on a free port. */
export interface RunningHealthServer {
  readonly port: number;
  readonly url: string;
  /** Makes `/api/health` answer 503 `draining`, as after SIGTERM. */
  setDraining(draining: boolean): void;
  close(): Promise<void>;
}

/** Starts the health server with no dependency checks, so that it is ready until told to drain. */
export async function startHealthServer(): Promise<RunningHealthServer> {
  let draining = false;
  const app = createHealthServer({
    checks: {},
    registry: createWorkerMetrics('deploy-test').registry,
    isDraining: () => draining,
    logger: createLogger({ name: 'deploy-test', level: 'silent' }),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    setDraining: (value) => {
      draining = value;
    },
    close: () => app.close(),
  };
}
