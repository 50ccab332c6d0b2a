import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';

/** A readiness check: resolves when the dependency answers, rejects (or times out) otherwise. */
export type HealthCheck = (signal: AbortSignal) => Promise<unknown>;

/** Options for {@link createHealthServer}. */
export interface HealthServerOptions {
  /** Checks by name; all must pass for `/api/health` to answer 200. */
  checks: Record<string, HealthCheck>;
  /** Metrics served at `/metrics`. */
  registry: Registry;
  /** While this returns true, `/api/health` answers 503 `draining`. */
  isDraining: () => boolean;
  logger: Logger;
  /** How long one check may take before it counts as failed. @defaultValue 2000 */
  checkTimeoutMs?: number;
}

/** Result of running the readiness checks. */
export interface HealthReport {
  status: 'ok' | 'unavailable';
  /** Per check: `ok`, or what went wrong. */
  checks: Record<string, string>;
  draining?: boolean;
}

/** Runs the checks in parallel, each with a timeout. */
export async function runHealthChecks(
  checks: Record<string, HealthCheck>,
  timeoutMs: number,
): Promise<HealthReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, string]> => {
      const signal = AbortSignal.timeout(timeoutMs);
      try {
        await Promise.race([
          check(signal),
          new Promise((_, reject) => {
            signal.addEventListener('abort', () => reject(new Error(`no answer within ${timeoutMs} ms`)), {
              once: true,
            });
          }),
        ]);
        return [name, 'ok'];
      } catch (err) {
        return [name, err instanceof Error ? err.message : String(err)];
      }
    }),
  );
  const report = Object.fromEntries(entries);
  return { status: entries.every(([, v]) => v === 'ok') ? 'ok' : 'unavailable', checks: report };
}

/**
 * The probe and metrics server: `/api/live` (the event loop answers; checks nothing),
 * `/api/health` (readiness: 503 while draining or when a check fails, naming it) and `/metrics`.
 */
export function createHealthServer(options: HealthServerOptions): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  const timeout = options.checkTimeoutMs ?? 2000;

  app.get('/api/live', async () => ({ status: 'ok' }));
  app.get('/api/health', async (_request, reply) => {
    if (options.isDraining()) {
      return reply
        .code(503)
        .send({ status: 'unavailable', draining: true, checks: {} } satisfies HealthReport);
    }
    const report = await runHealthChecks(options.checks, timeout);
    if (report.status !== 'ok') options.logger.warn({ checks: report.checks }, 'readiness check failed');
    return reply.code(report.status === 'ok' ? 200 : 503).send(report);
  });
  app.get('/metrics', async (_request, reply) => {
    const body = await options.registry.metrics();
    return reply.type(options.registry.contentType).send(body);
  });
  return app;
}
