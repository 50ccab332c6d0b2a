import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@sluice/core';
import type { FastifyInstance } from 'fastify';
import type { ApiLifecycle } from './api-lifecycle.js';

/** Options for {@link createShutdown}. */
export interface ShutdownOptions {
  app: FastifyInstance;
  lifecycle: ApiLifecycle;
  logger: Logger;
  /** After SIGTERM, how long every route keeps serving while readiness is 503 (`SHUTDOWN_DELAY_MS`). */
  delayMs: number;
  /**
   * After the listener closed, how long requests in flight may take before their connections
   * are cut, so that a stuck client cannot hold the process past its grace period
   * (`SHUTDOWN_TIMEOUT_MS`).
   */
  closeTimeoutMs: number;
  /**
   * Before the listener closes, it must have seen no new connection for this long (connections
   * arriving meanwhile are answered 503 `SHUTTING_DOWN`). @defaultValue 50
   */
  quietMs?: number;
  /** The longest wait for that quiet. @defaultValue 1000 */
  maxQuietWaitMs?: number;
  /** Closes what the server used (queue, Redis), after the server closed. */
  closeDependencies: () => Promise<void>;
}

/** The two ways an API process stops. Both are idempotent. */
export interface Shutdown {
  /** SIGTERM: readiness 503 at once, serve for `delayMs`, then {@link Shutdown.close}. */
  readonly shutdown: () => Promise<void>;
  /** Stop accepting, finish requests in flight, close idle connections, close dependencies. */
  readonly close: () => Promise<void>;
}

/**
 * The API's graceful shutdown (SPEC "API SIGTERM"):
 *
 * 1. `draining`: `/api/health` answers 503, every other route serves as before for `delayMs` so
 *    load balancers notice; answers carry `Connection: close`, moving kept-alive clients off.
 * 2. `closing`: new requests get 503 `SHUTTING_DOWN`. The listener closes once it has seen no new
 *    connection for `quietMs`: a connection that completed its handshake but was not yet taken
 *    from the kernel's accept queue would be reset by the close, not refused cleanly.
 * 3. `app.close()`: no new connections; requests in flight finish; connections that turn idle are
 *    closed at once (Node's `server.close()` only closes the ones idle at that moment); after
 *    `closeTimeoutMs` the rest are cut. Then the dependencies close.
 */
export function createShutdown(options: ShutdownOptions): Shutdown {
  const { app, lifecycle, logger } = options;
  const { closeTimeoutMs } = options;

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      lifecycle.advance('closing');
      logger.info('stopping: new requests get 503 until the listener closes');
      await waitForQuietListener(app.server, options.quietMs ?? 50, options.maxQuietWaitMs ?? 1000);
      logger.info('closing: no new connections; finishing requests in flight');
      const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
      const deadline = setTimeout(() => {
        logger.warn({ closeTimeoutMs }, 'requests still in flight after the close timeout; cutting them');
        app.server.closeAllConnections();
      }, closeTimeoutMs);
      try {
        await app.close();
      } finally {
        clearInterval(reaper);
        clearTimeout(deadline);
      }
      await options.closeDependencies();
      lifecycle.advance('closed');
      logger.info('closed');
    })());

  let drained: Promise<void> | undefined;
  const shutdown = () =>
    (drained ??= (async () => {
      lifecycle.advance('draining');
      logger.info({ delayMs: options.delayMs }, 'draining: readiness 503, still serving');
      await sleep(options.delayMs);
      await close();
    })());

  return { shutdown, close };
}

/** Resolves once `server` has accepted no connection for `quietMs`, or after `maxMs`. */
async function waitForQuietListener(server: Server, quietMs: number, maxMs: number): Promise<void> {
  if (!server.listening) return;
  let last = Date.now();
  const onConnection = () => (last = Date.now());
  server.on('connection', onConnection);
  const deadline = Date.now() + maxMs;
  try {
    do {
      await sleep(10);
      // Timers run before the poll phase that accepts connections; after a busy stretch, let
      // it take what queued up meanwhile before deciding that nothing arrived.
      await new Promise((resolve) => setImmediate(resolve));
    } while (Date.now() < deadline && Date.now() - last < quietMs);
  } finally {
    server.off('connection', onConnection);
  }
}
