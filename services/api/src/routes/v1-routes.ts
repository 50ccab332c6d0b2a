import { createHash } from 'node:crypto';
import fastifyRateLimit from '@fastify/rate-limit';
import { SluiceError, type AuditReport } from '@sluice/core';
import type { FastifyRequest } from 'fastify';
import type { Cluster, Redis } from 'ioredis';
import type { DocumentQueue, JobEvents } from '@sluice/core/queue';
import type { UploadStore } from '@sluice/storage';
import type { ChromaStore, Embedder } from '@sluice/ingest';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { assertCovers, bearerToken, type TokenVerifier } from '../auth.js';
import { auditRoutes } from './audit-routes.js';
import { documentRoutes } from './document-routes.js';
import { jobRoutes } from './job-routes.js';
import { queryRoutes } from './query-routes.js';

/** Options of {@link v1Routes}. */
export interface V1RoutesOptions {
  verifier: TokenVerifier;
  documents: DocumentQueue;
  jobEvents: JobEvents;
  store: ChromaStore;
  embedder: Embedder;
  uploads: UploadStore;
  maxUploadBytes: number;
  onAudit: (collection: string, report: AuditReport) => void;
  /** The per-token request limit, kept in Redis so that it holds across API replicas. */
  rateLimit: { perMinute: number; redis: Redis | Cluster; namespace: string };
}

/**
 * The `/v1` API behind bearer-token authentication. The token is checked in `onRequest`, before
 * the body is read, so an unauthenticated upload is refused without receiving it; routes with a
 * `{collection}` are refused (403) when the token does not cover it.
 */
export const v1Routes: FastifyPluginAsyncZod<V1RoutesOptions> = async (app, options) => {
  // Counted after the token check (preHandler): requests are limited per verified token, so that
  // made-up tokens cannot each get a budget of their own; refused requests cost a signature check.
  await app.register(fastifyRateLimit, {
    hook: 'preHandler',
    max: options.rateLimit.perMinute,
    timeWindow: 60_000,
    redis: options.rateLimit.redis,
    nameSpace: options.rateLimit.namespace,
    keyGenerator: rateLimitKey,
    // A Redis outage must not turn every request into a 500: the limit lapses meanwhile.
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      new SluiceError(
        'RATE_LIMITED',
        `more than ${context.max} requests a minute from this token; retry in ${Math.ceil(context.ttl / 1000)} s`,
        { details: { retryAfterMs: context.ttl } },
      ),
  });
  app.addHook('onRequest', async (request) => {
    request.tokenClaims = await options.verifier.verifyRequest(request);
    const { collection } = request.params as { collection?: unknown };
    if (typeof collection === 'string') assertCovers(request.tokenClaims, collection);
  });
  await app.register(documentRoutes, options);
  await app.register(jobRoutes, options);
  await app.register(queryRoutes, options);
  await app.register(auditRoutes, options);
};

/**
 * Whose requests count together: the verified bearer token's (by its digest, never the token
 * itself), or the client address without one (`AUTH_DISABLED=true`).
 */
function rateLimitKey(request: FastifyRequest): string {
  const token = bearerToken(request.headers.authorization);
  return token
    ? `token:${createHash('sha256').update(token).digest('hex').slice(0, 32)}`
    : `ip:${request.ip}`;
}
