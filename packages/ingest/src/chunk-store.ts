/**
 * A metadata value a vector store keeps: string, number or boolean (Chroma 1.0 rejects arrays,
 * objects and, on write, `null`).
 */
export type ChunkScalar = string | number | boolean;

/** Metadata of one stored chunk: flat scalars. */
export type ChunkMetadata = Record<string, ChunkScalar>;

/** One chunk as written to the store. */
export interface ChunkRecord {
  /** Deterministic chunk ID (`chunkId()`), so that writing twice is a no-op. */
  id: string;
  /** The chunk's vector; every record of a collection must have the same length. */
  embedding: readonly number[];
  /** The chunk's text, returned by queries. */
  document: string;
  /**
   * Flat metadata (see {@link toChunkMetadata}). `docId` is required: stores select a document's
   * chunks by it. `contentHash` (and `ingestedAt`, ms since epoch) tell a listing which version
   * the chunks belong to.
   */
  metadata: ChunkMetadata & { docId: string };
}

/** A chunk as stored, for the pipeline's diff. */
export interface StoredChunk {
  metadata: ChunkMetadata;
}

/**
 * Where the pipeline keeps chunks: what incremental re-ingest and stale-chunk cleanup need. The
 * Chroma store is the implementation; tests and benchmarks wrap it or pass their own.
 *
 * Every method takes an optional `signal`: aborting it cancels the call's requests and rejects
 * with the signal's reason once they have settled, so that no write of a stopped caller can land
 * after the call returned.
 */
export interface ChunkStore {
  /** The chunks stored for one document, by ID, with their metadata (none for a missing collection). */
  storedChunks(collection: string, docId: string, signal?: AbortSignal): Promise<Map<string, StoredChunk>>;
  /** Writes records, inserting new IDs and overwriting existing ones; writing the same records again changes nothing. */
  upsert(collection: string, records: readonly ChunkRecord[], signal?: AbortSignal): Promise<void>;
  /**
   * Replaces the metadata of stored chunks (`previous` is what is stored now), keeping their
   * vectors: nothing is embedded again.
   */
  updateMetadata(
    collection: string,
    records: readonly { id: string; metadata: ChunkRecord['metadata']; previous: ChunkMetadata }[],
    signal?: AbortSignal,
  ): Promise<void>;
  /** Deletes records by ID; IDs that are not stored, or a missing collection, are ignored. */
  deleteIds(collection: string, ids: Iterable<string>, signal?: AbortSignal): Promise<void>;
  /** Deletes every chunk of a document and returns how many there were. */
  deleteDocument(collection: string, docId: string, signal?: AbortSignal): Promise<number>;
}

/**
 * Turns arbitrary metadata into what a store keeps:
 * - strings, booleans and finite numbers are kept;
 * - `undefined` and `null` are dropped (Chroma's `null` means "delete the key" on update);
 * - non-finite numbers, functions and symbols are dropped (JSON cannot carry them);
 * - bigints become decimal strings, `Date`s ISO-8601 strings;
 * - arrays and objects are JSON-encoded into a string under their own key
 *   (`{ tags: ['a','b'] }` becomes `{ tags: '["a","b"]' }`): Chroma 1.0 rejects array values
 *   that newer clients allow, and nested objects never were allowed. Such keys can be read back
 *   with `JSON.parse`, but not filtered on by element.
 */
export function toChunkMetadata(metadata: Readonly<Record<string, unknown>>): ChunkMetadata {
  const result: ChunkMetadata = {};
  for (const [key, value] of Object.entries(metadata)) {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        result[key] = value;
        break;
      case 'number':
        if (Number.isFinite(value)) result[key] = value;
        break;
      case 'bigint':
        result[key] = value.toString();
        break;
      case 'object':
        if (value === null) break;
        result[key] = value instanceof Date ? value.toISOString() : JSON.stringify(value);
        break;
      case 'undefined':
      case 'function':
      case 'symbol':
        break;
    }
  }
  return result;
}
