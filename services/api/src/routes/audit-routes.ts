import type { AuditReport } from '@sluice/core';
import type { DocumentQueue } from '@sluice/core/queue';
import { auditCollection, type ChromaStore } from '@sluice/ingest';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { auditBody, auditReport, collectionParams } from '../http-schemas.js';
import { BEARER_SECURITY, V1_ERRORS, errorResponses, json } from '../route-schemas.js';

/** Options of {@link auditRoutes}. */
export interface AuditRoutesOptions {
  documents: DocumentQueue;
  store: ChromaStore;
  /** Told every audit's outcome (the drift gauge). */
  onAudit: (collection: string, report: AuditReport) => void;
}

/**
 * `POST /v1/collections/{collection}/audit`: compares what Chroma holds with Sluice's record of
 * what is indexed, chunk by chunk; with `repair`, submits the jobs that converge the drift.
 */
export const auditRoutes: FastifyPluginAsyncZod<AuditRoutesOptions> = async (app, options) => {
  app.post(
    '/v1/collections/:collection/audit',
    {
      schema: {
        tags: ['documents'],
        summary: 'Compare the collection with what Sluice indexed; with repair, converge it',
        security: BEARER_SECURITY,
        params: collectionParams,
        body: auditBody,
        response: {
          200: json(auditReport, 'What the audit found, and the repair jobs it submitted'),
          ...errorResponses(...V1_ERRORS),
        },
      },
    },
    async (request) => {
      const { collection } = request.params;
      const report = await auditCollection({
        store: options.store,
        documents: options.documents,
        collection,
        repair: request.body.repair,
      });
      options.onAudit(collection, report);
      return report;
    },
  );
};
