import { runHealthChecks, type HealthCheck } from '@sluice/core/process';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { MetricsRegistry } from '../api-dependencies.js';
import { healthReport, liveReport, textBody } from '../http-schemas.js';
import { json } from '../route-schemas.js';

/** Options of {@link probeRoutes}. */
export interface ProbeRoutesOptions {
  /** Readiness checks, run in parallel on every `/api/health`. */
  checks: Record<string, HealthCheck>;
  /** While this returns true, readiness answers 503 `draining` without running the checks. */
  isDraining: () => boolean;
  /** Served at `/metrics`. */
  metrics: MetricsRegistry;
  /** How long one readiness check may take. @defaultValue 2000 */
  checkTimeoutMs?: number;
}

/**
 * The open routes for probes and scraping: `GET /api/live` (the event loop answers; checks
 * nothing), `GET /api/health` (readiness: 503 while draining or when Redis or Chroma does not
 * answer, naming the check) and `GET /metrics` (Prometheus text format).
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
        summary: 'Readiness: Redis and Chroma answer and the process is not draining',
        response: {
          200: json(healthReport, 'Ready'),
          503: json(healthReport, 'Not ready: a check failed (named in `checks`) or the process is draining'),
        },
      },
    },
    async (request, reply) => {
      if (options.isDraining()) {
        return reply.code(503).send({ status: 'unavailable', draining: true, checks: {} });
      }
      const report = await runHealthChecks(options.checks, timeout);
      if (report.status !== 'ok') request.log.warn({ checks: report.checks }, 'readiness check failed');
      return reply.code(report.status === 'ok' ? 200 : 503).send(report);
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['probes'],
        summary: 'Prometheus metrics: process metrics and queue depth by state',
        response: {
          200: {
            description: 'Prometheus text exposition format',
            content: { 'text/plain': { schema: textBody } },
          },
        },
      },
    },
    async (_request, reply) => {
      const body = await options.metrics.metrics();
      return reply.type(options.metrics.contentType).send(body);
    },
  );
};
