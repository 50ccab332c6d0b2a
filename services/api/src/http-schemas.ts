import {
  SUPPORTED_TYPES_DESCRIPTION,
  auditBodySchema,
  auditReportSchema,
  collectionSchema,
  deleteAcceptedSchema,
  docIdSchema,
  collectionProgressSchema,
  documentListSchema,
  errorBodySchema,
  ingestAcceptedSchema,
  ingestTextBodySchema,
  jobStatusSchema,
  queryBodySchema,
  queryResultSchema,
} from '@sluice/core';
import { z } from 'zod';

/**
 * The zod schemas of the HTTP API as routes use them: the shared contract of `@sluice/core`
 * (never redefined here), given component names for the OpenAPI document, plus the few shapes
 * that only the API has (path parameters, probes, the multipart form).
 *
 * `.meta()` returns a copy registered in zod's global registry, so the core schemas themselves
 * are left untouched and validate exactly as the SDK's do.
 */

/** `{ error: { code, message, field? } }`. */
export const errorBody = errorBodySchema.meta({ id: 'Error', description: 'Every error answer.' });
/** 202 answer to an ingest. */
export const ingestAccepted = ingestAcceptedSchema.meta({ id: 'IngestAccepted' });
/** JSON form of an ingest. */
export const ingestTextBody = ingestTextBodySchema.meta({ id: 'IngestTextBody' });
/** A collection's documents. */
export const documentList = documentListSchema.meta({ id: 'DocumentList' });
export const collectionProgress = collectionProgressSchema.meta({ id: 'CollectionProgress' });
/** 202 answer to a delete. */
export const deleteAccepted = deleteAcceptedSchema.meta({ id: 'DeleteAccepted' });
/** A job's state. */
export const jobStatus = jobStatusSchema.meta({ id: 'JobStatus' });
/** A query. */
export const queryBody = queryBodySchema.meta({ id: 'QueryBody' });
/** A query's answer. */
export const queryResult = queryResultSchema.meta({ id: 'QueryResult' });
/** An audit request. */
export const auditBody = auditBodySchema.meta({ id: 'AuditBody' });
/** An audit's answer. */
export const auditReport = auditReportSchema.meta({ id: 'AuditReport' });

/** `/v1/collections/{collection}/…` */
export const collectionParams = z.object({
  collection: collectionSchema.meta({
    description: 'A Chroma collection name: 3–512 characters of a-z A-Z 0-9 . _ -',
  }),
});

/** `/v1/collections/{collection}/documents/{docId}` */
export const documentParams = collectionParams.extend({
  docId: docIdSchema.meta({ description: 'The document ID, URL-encoded.' }),
});

/** `/v1/jobs/{jobId}` */
export const jobParams = z.object({
  jobId: z.string().min(1).max(256).meta({ description: 'The job ID an ingest or delete answered.' }),
});

/** `GET /api/live` */
export const liveReport = z.object({ status: z.literal('ok') }).meta({ id: 'LiveReport' });

/** `GET /api/health` on the public port: ready or not, and no more (the details are on the metrics port). */
export const readinessReport = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    /** True once SIGTERM arrived: the process is on its way out. */
    draining: z.boolean().optional(),
  })
  .meta({ id: 'ReadinessReport' });

/**
 * The multipart form of `POST /v1/collections/{collection}/documents`, for the OpenAPI
 * document: the upload handler streams and checks the parts itself.
 */
export const uploadForm = z
  .object({
    file: z.string().meta({ format: 'binary', description: `The document: ${SUPPORTED_TYPES_DESCRIPTION}.` }),
    docId: docIdSchema.optional().meta({ description: 'The document ID. Default: the file name.' }),
    metadata: z
      .string()
      .optional()
      .meta({
        description:
          'A JSON object of flat values (string, number, boolean), stored with every chunk. ' +
          'Keys Sluice sets itself (collection, docId, contentHash, source, page, …) are refused.',
      }),
  })
  .meta({ id: 'UploadForm' });
