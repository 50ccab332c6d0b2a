import { runHealthChecks, type HealthCheck } from '@sluice/core/process';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { liveReport, readinessReport } from '../http-schemas.js';
import { json } from '../route-schemas.js';

/** Options of {@link probeRoutes}. */
export interface ProbeRoutesOptions {
  /** Readiness checks, run in parallel on every `/api/health`. */
  checks: Record<string, HealthCheck>;
  /** While this returns true, readiness answers 503 `draining` without running the checks. */
  isDraining: () => boolean;
  /** How long one readiness check may take. @defaultValue 2000 */
  checkTimeoutMs?: number;
}

/**
 * The open probe routes of the public port: `GET /api/live` (the event loop answers; checks
 * nothing) and `GET /api/health` (readiness: 503 while draining or when Redis does not answer).
 * Readiness tells no more than that: which dependency failed, and `/metrics`, are on the metrics
 * port.
 */
export const probeRoutes: FastifyPluginAsyncZod<ProbeRoutesOptions> = async (app, options) => {
  const timeout = options.checkTimeoutMs ?? 2000;

  app.get(
    '/api/live',
    {
      schema: {
        tags: ['probes'],
        summary: 'Liveness: the process and its event loop answer',
        response: { 200: json(liveReport, 'Alive') },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/api/health',
    {
      schema: {
        tags: ['probes'],
        summary: 'Readiness: Redis answers and the process is not draining',
        response: {
          200: json(readinessReport, 'Ready'),
          503: json(readinessReport, 'Not ready: Redis does not answer, or the process is draining'),
        },
      },
    },
    async (request, reply) => {
      if (options.isDraining()) return reply.code(503).send({ status: 'unavailable', draining: true });
      const report = await runHealthChecks(options.checks, timeout);
      if (report.status !== 'ok') request.log.warn({ checks: report.checks }, 'readiness check failed');
      return reply.code(report.status === 'ok' ? 200 : 503).send({ status: report.status });
    },
  );
};
