import { z } from 'zod';
import { INGEST_QUEUE, ingestDocumentPayload } from '../contract/document-jobs.js';

/** The `version` recorded when a document's removal was submitted. */
export const DELETED = 'deleted';

/**
 * The latest submission recorded for a document: what the document must end as (last write
 * wins). Its job is the only one allowed to index or delete the document; any other job of the
 * document stands down.
 */
export const latestSubmissionSchema = z.object({
  /** Submission number, increasing across all documents. */
  seq: z.number().int(),
  /** `documentVersion()` of the submitted version, or {@link DELETED}. */
  version: z.string(),
  /** The job that carries out this submission. */
  jobId: z.string(),
});

/** The latest submission recorded for a document. */
export type LatestSubmission = z.infer<typeof latestSubmissionSchema>;

/**
 * Sluice's own record of what a document has indexed, written by the job that indexed it, under
 * its document lock: the version, the payload it came from (so that a repair can run it again)
 * and every chunk with a digest of its metadata (so that an audit can tell missing, orphaned and
 * stale chunks apart).
 */
export const indexedRecordSchema = z.object({
  /** `documentVersion()` of the indexed version (content, metadata, fingerprint). */
  version: z.string(),
  contentHash: z.string(),
  /** The pipeline fingerprint the chunks were made with. */
  fingerprint: z.string(),
  /** The job that indexed it. */
  jobId: z.string(),
  /** The payload the version came from. */
  payload: ingestDocumentPayload,
  /** Chunk ID → digest of the chunk's metadata, as written. */
  chunks: z.record(z.string(), z.string()),
  /** When the record was written, ms since the epoch. */
  indexedAt: z.number(),
});

/** What a document has indexed; see {@link indexedRecordSchema}. */
export type IndexedRecord = z.infer<typeof indexedRecordSchema>;

/** The Redis keys of the document records, under one prefix (so one hash slot with `{prefix}`). */
export function documentKeys(prefix: string) {
  const base = `${prefix}:${INGEST_QUEUE}`;
  return {
    /** Submission counter. */
    seq: `${base}:doc-seq`,
    /** Hash: `collection\ndocId` → {@link LatestSubmission} (JSON). */
    latest: `${base}:doc-latest`,
    /** Hash per collection: docId → {@link IndexedRecord} (JSON). */
    indexed: (collection: string) => `${base}:indexed:${collection}`,
    /** Set of the collections that have an `indexed` hash (SCAN finds no keys across a Cluster). */
    collections: `${base}:collections`,
    /** The pipeline fingerprint the workers run, published at their start. */
    pipeline: `${base}:pipeline`,
    /** An upload written (or written again) lately: the sweep leaves it alone. */
    uploadProtected: (key: string) => `${base}:upload-protected:${key}`,
    /** An upload the sweep is removing now: a writer waits, then writes it again. */
    uploadSweeping: (key: string) => `${base}:upload-sweeping:${key}`,
    /** Set per collection: its jobs submitted and not yet finished. */
    pending: (collection: string) => `${base}:pending:${collection}`,
    /** Hash per collection: jobs `completed` and `failed`, and completions per minute (`m:<minute>`). */
    progress: (collection: string) => `${base}:progress:${collection}`,
    /** One sweep at a time across the workers. */
    sweepLock: `${base}:upload-sweep-lock`,
    /** The embeddings endpoint's rate limits, shared by the fleet: token buckets and a hold-off. */
    embeddingLimits: `${base}:embedding-limits`,
    /** A cached vector, by `CachingEmbedder`'s key (model, dimensions, text hash). */
    embeddingCache: (key: string) => `${base}:embedding-cache:${key}`,
    /** Sorted set of the cached vectors' keys by the time they were stored, to bound the cache. */
    embeddingCacheIndex: `${base}:embedding-cache-index`,
    /** The lock of one document: the fencing token of the attempt that holds it. */
    lock: (collection: string, docId: string) =>
      // docIds may contain anything but control characters; encode them to keep keys printable.
      `${base}:doc-lock:${collection}:${Buffer.from(docId).toString('base64url')}`,
  };
}

/** The field of a document in the `latest` hash. Collection names cannot hold a newline. */
export function documentField(collection: string, docId: string): string {
  return `${collection}\n${docId}`;
}

/** Parses a JSON record written by this module; `undefined` for none or an unreadable one. */
export function parseRecord<TSchema extends z.ZodType>(
  schema: TSchema,
  raw: string | null | undefined,
): z.output<TSchema> | undefined {
  if (!raw) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
