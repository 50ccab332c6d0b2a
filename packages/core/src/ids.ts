import { createHash } from 'node:crypto';

/**
 * Version of the ingestion pipeline. Bump it when a change to parsing, splitting or metadata
 * must produce new chunk IDs (and so a re-ingest of every document).
 */
export const PIPELINE_VERSION = 1;

function digest(parts: readonly (string | number)[]): string {
  const hash = createHash('sha256');
  // Length-prefix every part so that ("ab","c") and ("a","bc") never collide.
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
  return `ing-${digest(['ingest', input.collection, input.docId, input.contentHash, version]).slice(0, 40)}`;
}

/**
 * Job ID of a delete request. Deletes are not deduplicated across time (a document can be
 * re-added and deleted again), so the caller passes a request nonce; the same nonce gives the
 * same ID, which makes retries of one request safe.
 */
export function deleteJobId(input: { collection: string; docId: string; nonce: string }): string {
  return `del-${digest(['delete', input.collection, input.docId, input.nonce]).slice(0, 40)}`;
}

/** The fields that identify one chunk. */
export interface ChunkIdInput {
  collection: string;
  docId: string;
  /** {@link pipelineFingerprint} of the settings that produced the chunk. */
  fingerprint: string;
  /** The chunk's text, exactly as embedded. */
  text: string;
  /** 0 for the first chunk with this text in the document, 1 for the second, and so on. */
  ordinal: number;
}

/**
 * Deterministic chunk ID: the same chunk of the same document under the same pipeline always
 * gets the same ID, so an upsert can never duplicate it, and an unchanged chunk of a new
 * version keeps its ID (and its stored embedding).
 */
export function chunkId(input: ChunkIdInput): string {
  return `chk-${digest(['chunk', input.collection, input.docId, input.fingerprint, input.text, input.ordinal]).slice(0, 40)}`;
}

/**
 * Gives each chunk text its ordinal among equal texts in the same document, in order.
 * @returns one ordinal per input text
 */
export function ordinalsAmongEqual(texts: readonly string[]): number[] {
  const seen = new Map<string, number>();
  return texts.map((text) => {
    const ordinal = seen.get(text) ?? 0;
    seen.set(text, ordinal + 1);
    return ordinal;
  });
}

/**
 * Fingerprint of everything that shapes chunks and vectors: splitter settings, embedding model
 * and pipeline version. Keys are sorted, so the order they are given in does not matter.
 */
export function pipelineFingerprint(settings: Record<string, string | number | boolean>): string {
  const entries = Object.entries({ pipelineVersion: PIPELINE_VERSION, ...settings }).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  return digest(entries.flat()).slice(0, 16);
}

/** sha256 of some bytes, hex: a document's `contentHash`. */
export function contentHash(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
