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

/** The fields that make one version of one document. */
export interface JobIdInput {
  collection: string;
  docId: string;
  /** sha256 of the document's bytes, hex. */
  contentHash: string;
  /** @defaultValue {@link PIPELINE_VERSION} */
  pipelineVersion?: number;
}

/**
 * Deterministic BullMQ job ID of an ingest: the same (collection, docId, contentHash, pipeline
 * version) always gives the same ID, so enqueueing a version twice returns the existing job.
 * The result is `ing-` plus 40 hex digits: no `:` (BullMQ reserves it) and never all digits.
 */
export function ingestJobId(input: JobIdInput): string {
  const version = input.pipelineVersion ?? PIPELINE_VERSION;
  return `ing-${digestParts(['ingest', input.collection, input.docId, input.contentHash, version]).slice(0, 40)}`;
}

/**
 * Job ID of a delete request. Deletes are not deduplicated across time (a document can be
 * re-added and deleted again), so the caller passes a request nonce; the same nonce gives the
 * same ID, which makes retries of one request safe.
 */
export function deleteJobId(input: { collection: string; docId: string; nonce: string }): string {
  return `del-${digestParts(['delete', input.collection, input.docId, input.nonce]).slice(0, 40)}`;
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
