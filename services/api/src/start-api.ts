import type { AddressInfo } from 'node:net';
import { type ApiConfig, type Logger } from '@sluice/core';
import {
  SHUTDOWN_MARGIN_MS,
  createHealthServer,
  createLogger,
  handleProcessSignals,
} from '@sluice/core/process';
import { openApiDependencies } from './api-dependencies.js';
import { ApiLifecycle } from './api-lifecycle.js';
import { createApiServer } from './api-server.js';
import { createShutdown } from './shutdown.js';

/** Temporary upload files older than this are left over from a dead process. */
const STALE_UPLOAD_MS = 60 * 60 * 1000;

/** Options for {@link startApi} beyond the configuration. */
export interface StartApiOptions {
  /** Install SIGTERM/SIGINT handlers that run {@link ApiProcess.shutdown} and exit. @defaultValue true */
  handleSignals?: boolean;
  /** @defaultValue a JSON logger on stdout at `LOG_LEVEL` */
  logger?: Logger;
}

/** A running API. */
export interface ApiProcess {
  /** The port it listens on (useful with `PORT=0`). */
  readonly port: number;
  /** Its base URL, e.g. `http://127.0.0.1:3001`. */
  readonly url: string;
  /** The port of `/metrics` and the detailed health report (`METRICS_PORT`). */
  readonly metricsPort: number;
  /**
   * What SIGTERM does: readiness turns 503 at once, every route keeps serving for
   * `SHUTDOWN_DELAY_MS` while load balancers notice, then {@link ApiProcess.close}.
   */
  readonly shutdown: () => Promise<void>;
  /**
   * Stops accepting connections, lets requests in flight finish (new requests get 503
   * `SHUTTING_DOWN`), closes idle connections, then closes the queue and Redis. Idempotent.
   */
  readonly close: () => Promise<void>;
}

/**
 * Starts the HTTP API: opens Redis and Chroma clients, listens on `HOST:PORT`, and (unless told
 * otherwise) turns SIGTERM/SIGINT into a graceful drain followed by exit 0.
 */
export async function startApi(config: ApiConfig, options: StartApiOptions = {}): Promise<ApiProcess> {
  const logger =
    options.logger ??
    createLogger({ name: 'sluice-api', level: config.LOG_LEVEL, release: config.SLUICE_RELEASE });
  if (config.AUTH_DISABLED) {
    logger.warn(
      'AUTH_DISABLED=true: every request may read and write every collection; never do this in production',
    );
  }
  const dependencies = openApiDependencies(config, logger);
  dependencies.uploads.removeStaleTemporaries(STALE_UPLOAD_MS).then(
    (removed) => removed > 0 && logger.info({ removed }, 'removed stale temporary uploads'),
    (err: unknown) => logger.warn({ err }, 'could not clean stale temporary uploads'),
  );
  const lifecycle = new ApiLifecycle();
  const app = createApiServer({ config, dependencies, logger, lifecycle });
  // /metrics and the detailed health report (every dependency, Chroma included) on their own port.
  const metricsServer = createHealthServer({
    checks: dependencies.diagnostics,
    registry: dependencies.metrics,
    isDraining: () => lifecycle.draining,
    logger,
  });
  try {
    await app.listen({ port: config.PORT, host: config.HOST });
    await metricsServer.listen({ port: config.METRICS_PORT, host: config.HOST });
  } catch (err) {
    await app.close().catch(() => undefined);
    await metricsServer.close().catch(() => undefined);
    await dependencies.close();
    throw err;
  }
  const { port } = app.server.address() as AddressInfo;
  const metricsPort = (metricsServer.server.address() as AddressInfo).port;
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const { shutdown, close } = createShutdown({
    app,
    lifecycle,
    logger,
    delayMs: config.SHUTDOWN_DELAY_MS,
    closeTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    closeDependencies: async () => {
      await metricsServer.close();
      await dependencies.close();
    },
  });

  if (options.handleSignals ?? true) {
    handleProcessSignals({
      logger,
      shutdown: () => shutdown(),
      // Whatever hangs, the API is gone within its delay, its close timeout and a margin.
      shutdownDeadlineMs: config.SHUTDOWN_DELAY_MS + config.SHUTDOWN_TIMEOUT_MS + SHUTDOWN_MARGIN_MS,
    });
  }
  logger.info({ url, metricsPort, authDisabled: config.AUTH_DISABLED }, 'api listening');
  return { port, url, metricsPort, shutdown, close };
}
