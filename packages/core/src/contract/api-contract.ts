import { z } from 'zod';
import { TEXT_DOCUMENT_TYPES } from './document-types.js';
import { ERROR_CODES, type ErrorCode } from './errors.js';
import {
  MAX_INLINE_TEXT_BYTES,
  docIdSchema,
  documentJobResultSchema,
  documentTypeSchema,
  metadataSchema,
} from './document-jobs.js';

/**
 * The HTTP API's request and response bodies: one definition, used by the API to validate and
 * to generate its OpenAPI document, and by the SDK to type and check what it sends and gets.
 */

/** Every error answer: `{ error: { code, message } }`, plus the offending field for 400s. */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    field: z.string().optional(),
  }),
});

/** JSON form of `POST /v1/collections/{collection}/documents`. */
export const ingestTextBodySchema = z.object({
  docId: docIdSchema,
  text: z
    .string()
    .min(1)
    .refine(
      (t) => Buffer.byteLength(t) <= MAX_INLINE_TEXT_BYTES,
      `at most ${MAX_INLINE_TEXT_BYTES} bytes; upload larger documents as a file`,
    ),
  /** `text` (default) or `markdown`. */
  type: documentTypeSchema.extract(TEXT_DOCUMENT_TYPES).optional(),
  metadata: metadataSchema.optional(),
});

/** 202 answer to an ingest (SPEC: `{ jobId, docId, contentHash, deduplicated }`). */
export const ingestAcceptedSchema = z.object({
  jobId: z.string(),
  docId: z.string(),
  contentHash: z.string(),
  /** True when this exact version was already queued, running, or indexed: no new work. */
  deduplicated: z.boolean(),
});

/** A job's state as the API and SDK report it (`GET /v1/jobs/{jobId}`). */
export const jobStatusSchema = z.object({
  jobId: z.string(),
  name: z.string(),
  state: z.enum([
    'waiting',
    'active',
    'completed',
    'failed',
    'delayed',
    'prioritized',
    'waiting-children',
    'unknown',
  ]),
  progress: z.union([z.number(), z.record(z.string(), z.unknown())]),
  /** Attempts made so far (preemptions are not attempts). */
  attempts: z.number().int(),
  result: documentJobResultSchema.optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

/** `GET /v1/collections/{collection}/documents`. */
export const documentListSchema = z.object({
  documents: z.array(
    z.object({
      docId: z.string(),
      /** The version last indexed. */
      contentHash: z.string().optional(),
      chunks: z.number().int(),
      /** The caller's metadata of the version last indexed (as Sluice recorded it). */
      metadata: metadataSchema.optional(),
    }),
  ),
});

/** 202 answer to a delete. */
export const deleteAcceptedSchema = z.object({ jobId: z.string() });

/** `POST /v1/collections/{collection}/query`. */
export const queryBodySchema = z.object({
  text: z.string().min(1).max(10_000),
  /** Matches wanted. @defaultValue 5 */
  k: z.number().int().min(1).max(100).default(5),
});

/** One query match. */
export const matchSchema = z.object({
  id: z.string(),
  text: z.string(),
  score: z.number(),
  docId: z.string(),
  page: z.number().int().optional(),
  source: z.string(),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});

/** Answer to a query. */
export const queryResultSchema = z.object({ matches: z.array(matchSchema) });

/** `POST /v1/collections/{collection}/audit`. */
export const auditBodySchema = z.object({
  /** Submit jobs that converge the drift found. @defaultValue false */
  repair: z.boolean().default(false),
});

/** Answer to an audit: Chroma compared with Sluice's record of what is indexed. */
/** `GET /v1/collections/{collection}/progress`: where a collection's jobs are. */
export const collectionProgressSchema = z.object({
  collection: z.string(),
  /** Jobs submitted and not yet running (waiting, delayed, handed back). */
  queued: z.number().int(),
  /** Jobs running now. */
  active: z.number().int(),
  /** Jobs that completed (kept count since the collection's first job). */
  completed: z.number().int(),
  /** Jobs that failed for good. */
  failed: z.number().int(),
  /** Jobs completed per minute over the last five minutes, from the first of them with one. */
  perMinute: z.number(),
  /** Seconds until queued and active jobs are done at that rate; null when nothing runs or no rate is known. */
  etaSeconds: z.number().int().nullable(),
});

export const auditReportSchema = z.object({
  /** Documents Sluice recorded as indexed. */
  documents: z.number().int(),
  /** Chunks stored in Chroma for the collection. */
  chunks: z.number().int(),
  /** Recorded chunks that are not in Chroma. */
  missing: z.number().int(),
  /** Stored chunks of no indexed document, or not among their document's recorded chunks. */
  orphans: z.number().int(),
  /** Stored chunks whose metadata differs from what their document's indexed version wrote. */
  stale: z.number().int(),
  /** Stored chunks whose text their document already holds under a recorded chunk. */
  duplicates: z.number().int(),
  /** Documents left out because a later submission of theirs is still being processed. */
  inFlight: z.number().int(),
  /** Jobs submitted to repair the drift (with `repair`). */
  repairJobs: z.array(z.string()),
});

/** The claims of an API token (HS256 JWT): which collections its holder may touch. */
export const tokenClaimsSchema = z.object({
  collections: z.union([z.literal('*'), z.array(z.string().min(1))]),
});

export type ErrorBody = z.infer<typeof errorBodySchema>;
export type IngestTextBody = z.input<typeof ingestTextBodySchema>;
export type IngestAccepted = z.infer<typeof ingestAcceptedSchema>;
export type JobStatus = z.infer<typeof jobStatusSchema>;
export type DocumentList = z.infer<typeof documentListSchema>;
export type QueryBody = z.input<typeof queryBodySchema>;
export type QueryMatch = z.infer<typeof matchSchema>;
export type QueryResult = z.infer<typeof queryResultSchema>;
export type TokenClaims = z.infer<typeof tokenClaimsSchema>;
export type AuditBody = z.input<typeof auditBodySchema>;
export type AuditReport = z.infer<typeof auditReportSchema>;
export type CollectionProgress = z.infer<typeof collectionProgressSchema>;
