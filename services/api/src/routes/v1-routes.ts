import type { AuditReport } from '@sluice/core';
import type { DocumentQueue } from '@sluice/core/queue';
import type { ChromaStore, Embedder } from '@sluice/ingest';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { assertCovers, type TokenVerifier } from '../auth.js';
import { auditRoutes } from './audit-routes.js';
import { documentRoutes } from './document-routes.js';
import { jobRoutes } from './job-routes.js';
import { queryRoutes } from './query-routes.js';

/** Options of {@link v1Routes}. */
export interface V1RoutesOptions {
  verifier: TokenVerifier;
  documents: DocumentQueue;
  store: ChromaStore;
  embedder: Embedder;
  storageDir: string;
  maxUploadBytes: number;
  onAudit: (collection: string, report: AuditReport) => void;
}

/**
 * The `/v1` API behind bearer-token authentication. The token is checked in `onRequest`, before
 * the body is read, so an unauthenticated upload is refused without receiving it; routes with a
 * `{collection}` are refused (403) when the token does not cover it.
 */
export const v1Routes: FastifyPluginAsyncZod<V1RoutesOptions> = async (app, options) => {
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
