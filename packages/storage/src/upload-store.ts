import type { Readable } from 'node:stream';

/** How many leading bytes of an upload are kept for type detection. */
export const SNIFF_BYTES = 64 * 1024;

/**
 * An upload written to a temporary place in the store, not yet visible under its content
 * address. Exactly one of {@link StagedUpload.commit} and {@link StagedUpload.discard} must follow.
 */
export interface StagedUpload {
  /** sha256 of the bytes, lowercase hex: the document's `contentHash` and its storage key. */
  readonly sha256: string;
  /** Size in bytes. */
  readonly size: number;
  /**
   * The first {@link SNIFF_BYTES} bytes, cut back to a whole UTF-8 character when the upload is
   * longer, so that text detection does not trip over a character split at the cut.
   */
  readonly head: Buffer;
  /** Makes the upload readable under its sha256 (replacing a copy of the same bytes); returns the key. */
  commit(): Promise<string>;
  /** Removes the temporary copy. */
  discard(): Promise<void>;
}

/** Options of {@link UploadStore.stage}. */
export interface StageOptions {
  /** Largest upload accepted; past it staging fails with `TOO_LARGE` at once. @defaultValue no limit */
  maxBytes?: number;
  /** Stops the upload; it then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** One stored upload, as {@link UploadStore.list} sees it. */
export interface StoredUpload {
  /** Its content address (sha256, hex). */
  key: string;
  /** When it was last written, ms since the epoch. */
  modifiedAt: number;
}

/**
 * Where uploaded documents live, under their sha256: a directory (`STORAGE_DIR`) or an
 * S3-compatible bucket (`STORAGE_URL`). The API and the SDK's Redis mode write; workers read.
 *
 * Guarantees: an upload is streamed, never held whole in memory; it is hashed and bounded while
 * it streams; it becomes readable under its key only when committed, whole (a reader never sees
 * a partial upload).
 */
export interface UploadStore {
  /** Where the uploads are, for logs: `dir:/var/lib/sluice/uploads`, `s3://bucket/prefix`. */
  readonly location: string;
  /** Streams `source` to a temporary place, hashing and measuring it. */
  stage(source: Readable, options?: StageOptions): Promise<StagedUpload>;
  /**
   * The bytes stored under `key`.
   * @throws SluiceError `FILE_MISSING` when there is nothing under it
   */
  read(key: string, signal?: AbortSignal): Promise<Uint8Array>;
  /** Removes what is stored under `key` (nothing to remove is no error). */
  delete(key: string): Promise<void>;
  /** Every committed upload (content keys only, never temporary copies). */
  list(): AsyncIterable<StoredUpload>;
  /** Removes temporary copies older than `maxAgeMs` (left by a process that died mid-upload); returns how many. */
  removeStaleTemporaries(maxAgeMs: number): Promise<number>;
}

/** Whether `key` is a content address (sha256 hex), the only keys an upload is stored under. */
export function isContentKey(key: string): boolean {
  return /^[0-9a-f]{64}$/.test(key);
}
