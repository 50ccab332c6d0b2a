import { createHash } from 'node:crypto';

/**
 * Version of the ingestion pipeline. Bump it when a change to parsing, splitting or metadata
 * must produce new chunk IDs (and so a re-ingest of every document).
 */
export const PIPELINE_VERSION = 1;

/**
 * sha256 (hex) over parts, each length-prefixed so that ("ab","c") and ("a","bc") never collide:
 * the hash behind every deterministic ID.
 */
export function digestParts(parts: readonly (string | number)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    const text = String(part);
    hash.update(`${Buffer.byteLength(text)}:`);
    hash.update(text);
  }
  return hash.digest('hex');
}

/** What makes one version of a document (SPEC › Job semantics). */
export interface VersionInput {
  /** sha256 of the document's bytes, hex. */
  contentHash: string;
  /** The caller's metadata, stored on every chunk. */
  metadata: Readonly<Record<string, string | number | boolean>>;
  /** {@link pipelineFingerprint} of the workers that index it. */
  fingerprint: string;
}

/**
 * The version of a document: its content, its metadata and the pipeline fingerprint, so that a
 * change of any of the three is a new version. Metadata keys are sorted first: their order does
 * not matter. 32 hex digits.
 */
export function documentVersion(input: VersionInput): string {
  const metadata = Object.entries(input.metadata)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${typeof value}:${String(value)}`);
  return digestParts(['version', input.contentHash, input.fingerprint, ...metadata]).slice(0, 32);
}

/** The fields an ingest job ID is derived from. */
export interface JobIdInput {
  collection: string;
  docId: string;
  /** {@link documentVersion}. */
  version: string;
  /**
   * The submission that created the job (its sequence number). The same version submitted again
   * with no other submission of the document in between reuses the job; after another submission
   * overtook it, the version gets a new job (A → B → A runs A again).
   */
  seq: number;
}

/**
 * BullMQ job ID of an ingest, derived from (collection, docId, version, submission). The result
 * is `ing-` plus 40 hex digits: no `:` (BullMQ reserves it) and never all digits.
 */
export function ingestJobId(input: JobIdInput): string {
  return `ing-${digestParts(['ingest', input.collection, input.docId, input.version, input.seq]).slice(0, 40)}`;
}

/**
 * Job ID of a delete request, derived from (collection, docId, submission): a document can be
 * added and deleted again any number of times.
 */
export function deleteJobId(input: { collection: string; docId: string; seq: number }): string {
  return `del-${digestParts(['delete', input.collection, input.docId, input.seq]).slice(0, 40)}`;
}

/**
 * Fingerprint of everything that shapes chunks and vectors: splitter settings, embedding model
 * and pipeline version. Keys are sorted, so the order they are given in does not matter.
 */
export function pipelineFingerprint(settings: Record<string, string | number | boolean>): string {
  const entries = Object.entries({ pipelineVersion: PIPELINE_VERSION, ...settings }).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  return digestParts(entries.flat()).slice(0, 16);
}

/** sha256 of some bytes, hex: a document's `contentHash`. */
export function contentHash(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
