import { z } from 'zod';
import { SluiceError } from './errors.js';
import { validateCollectionName, validateDocId } from './collection-name.js';
import { DOCUMENT_TYPES } from './document-types.js';
import { defineJob } from './job-definition.js';

/** The queue every document job travels on. */
export const INGEST_QUEUE = 'ingest';

/** Largest text that may travel inside a job payload; bigger documents go through `STORAGE_DIR`. */
export const MAX_INLINE_TEXT_BYTES = 256 * 1024;

/** Chunk metadata keys that Sluice sets itself; callers' metadata may not use them. */
export const RESERVED_METADATA_KEYS = [
  'collection',
  'docId',
  'contentHash',
  'source',
  'page',
  'chunkIndex',
  'headingPath',
  'lineStart',
  'lineEnd',
] as const;

function refineWith(check: (value: string) => void) {
  return (value: string, ctx: z.RefinementCtx) => {
    try {
      check(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof SluiceError ? err.message : String(err) });
    }
  };
}

/** A collection name Chroma accepts. */
export const collectionSchema = z.string().superRefine(refineWith(validateCollectionName));
/** A document ID: 1–512 characters, no control characters. */
export const docIdSchema = z.string().superRefine(refineWith(validateDocId));
/** sha256 of a document's bytes, lowercase hex. */
export const contentHashSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 in lowercase hex');
/** Most keys the caller's metadata may have: it is copied onto every chunk. */
export const MAX_METADATA_KEYS = 64;
/** Largest the caller's metadata may be, as JSON in UTF-8 bytes: it is copied onto every chunk. */
export const MAX_METADATA_BYTES = 8 * 1024;

/**
 * The caller's metadata: flat scalars (what Chroma stores), no reserved keys, at most
 * {@link MAX_METADATA_KEYS} keys and {@link MAX_METADATA_BYTES} bytes of JSON.
 */
export const metadataSchema = z
  .record(z.string().min(1).max(256), z.union([z.string().max(4096), z.number(), z.boolean()]))
  .superRefine((value, ctx) => {
    const keys = Object.keys(value).length;
    if (keys > MAX_METADATA_KEYS) {
      ctx.addIssue({
        code: 'custom',
        message: `at most ${MAX_METADATA_KEYS} keys (it is copied onto every chunk), got ${keys}`,
      });
      return;
    }
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes > MAX_METADATA_BYTES) {
      ctx.addIssue({
        code: 'custom',
        message: `at most ${MAX_METADATA_BYTES} bytes as JSON (it is copied onto every chunk), got ${bytes}`,
      });
      return;
    }
    for (const key of RESERVED_METADATA_KEYS) {
      if (Object.hasOwn(value, key)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `"${key}" is set by Sluice and may not be given`,
        });
      }
    }
  });
/** Document kinds Sluice ingests. */
export const documentTypeSchema = z.enum(DOCUMENT_TYPES);

/** Payload of `ingest-document`. Exactly one of `storageKey` and `text` carries the content. */
export const ingestDocumentPayload = z
  .object({
    collection: collectionSchema,
    docId: docIdSchema,
    contentHash: contentHashSchema,
    /** File name shown in query matches. */
    source: z.string().min(1).max(1024),
    /** Content-addressed file name under `STORAGE_DIR`. */
    storageKey: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be a content hash')
      .optional(),
    /** The document itself, for small texts. */
    text: z
      .string()
      .refine(
        (t) => Buffer.byteLength(t) <= MAX_INLINE_TEXT_BYTES,
        `at most ${MAX_INLINE_TEXT_BYTES} bytes inline`,
      )
      .optional(),
    /** The type when the caller knows it; otherwise sniffed from the bytes. */
    type: documentTypeSchema.optional(),
    metadata: metadataSchema.default({}),
    /**
     * An audit's repair: run the version even when Sluice's record says it is indexed, so that the
     * run embeds what is missing, brings metadata up to date and deletes everything else.
     */
    repair: z.boolean().optional(),
  })
  .superRefine((p, ctx) => {
    if ((p.storageKey === undefined) === (p.text === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['text'],
        message: 'exactly one of storageKey and text is required',
      });
    }
  });

/** Payload of `delete-document`. */
export const deleteDocumentPayload = z.object({
  collection: collectionSchema,
  docId: docIdSchema,
});

/**
 * Default options of document jobs: retries with exponential backoff (2 s, 4 s, 8 s, …) for
 * outages of Chroma or an embeddings endpoint; finished jobs kept a week for status queries
 * and deduplication.
 */
const documentJobDefaults = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 100_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
} as const;

/** Ingest one version of one document. */
export const ingestDocumentJob = defineJob({
  name: 'ingest-document',
  queue: INGEST_QUEUE,
  payload: ingestDocumentPayload,
  defaults: documentJobDefaults,
});

/** Remove every chunk of one document. */
export const deleteDocumentJob = defineJob({
  name: 'delete-document',
  queue: INGEST_QUEUE,
  payload: deleteDocumentPayload,
  defaults: documentJobDefaults,
});

/** What a document job returns (a delete has no `contentHash` and removes chunks only). */
export const documentJobResultSchema = z.object({
  docId: z.string(),
  /** The version this job ingested. */
  contentHash: z.string().optional(),
  /** Chunks in this version. */
  chunks: z.number().int(),
  /** Chunks embedded and written by this job. */
  embedded: z.number().int(),
  /** Chunks already stored (unchanged, or written by an earlier run of this job). */
  skipped: z.number().int(),
  /** Kept chunks whose metadata was brought up to date in place (page, lines, the caller's metadata, …), without re-embedding. */
  updated: z.number().int().default(0),
  /** Stale chunks of earlier versions removed. */
  deleted: z.number().int(),
  /** Page count (PDF). */
  pages: z.number().int().optional(),
  /** True when a later submission of the same document overtook this one; nothing was left of it. */
  superseded: z.boolean().optional(),
});

/** Result of `ingest-document` and `delete-document`. */
export type DocumentJobResult = z.infer<typeof documentJobResultSchema>;
/** Payload of `ingest-document`. */
export type IngestDocumentPayload = z.infer<typeof ingestDocumentPayload>;
/** Payload of `delete-document`. */
export type DeleteDocumentPayload = z.infer<typeof deleteDocumentPayload>;
