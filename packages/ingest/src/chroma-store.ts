import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError, validateCollectionName, validateDocId } from '@sluice/core';
import { ChromaClient, type Collection } from 'chromadb';
import type { ChunkMetadata, ChunkRecord, ChunkStore, StoredChunk } from './chunk-store.js';
import { ReadCoalescer } from './read-coalescer.js';
import { WriteCoalescer } from './write-coalescer.js';

/** Distance function of a collection's vector index. */
export type ChromaSpace = 'cosine' | 'l2' | 'ip';

/** One result of {@link ChromaStore.query}. */
export interface ChromaMatch {
  id: string;
  /** The stored document text. */
  text: string;
  /** Similarity, higher is closer: for `cosine`, the cosine similarity `1 - distance`. */
  score: number;
  /** The stored metadata, as written (JSON-encoded values are not decoded). */
  metadata: ChunkMetadata;
}

/** One document of a collection, from {@link ChromaStore.listDocuments}. */
export interface StoredDocument {
  docId: string;
  /** The document version the chunks belong to; see {@link ChromaStore.listDocuments}. */
  contentHash: string | undefined;
  /** Number of stored chunks. */
  chunks: number;
}

/** Options for {@link ChromaStore}. */
export interface ChromaStoreOptions {
  /** Chroma server URL, e.g. `http://127.0.0.1:8000`. Only scheme, host and port are used. */
  url: string;
  /**
   * Distance function for collections this store creates. Existing collections keep theirs, and
   * {@link ChromaStore.query} converts distances according to the collection's actual space.
   * @defaultValue 'cosine'
   */
  space?: ChromaSpace;
  /**
   * Vector length of the embedder. When set, new collections record it in their metadata
   * (`sluice:dimensions`), opening a collection that recorded a different length fails with
   * `INVALID_REQUEST`, and {@link ChromaStore.upsert} checks every vector before sending.
   * @defaultValue unchecked (Chroma itself fixes a collection's length at its first write)
   */
  dimensions?: number;
  /**
   * Upper bound on records per write request; the server's own limit (`getMaxBatchSize()`) is
   * never exceeded. Batches of about 250 are where Chroma 1.0's write rate levels off.
   * @defaultValue 256
   */
  maxBatchSize?: number;
  /**
   * Group commit of upserts: while one upsert into a collection is in flight, upserts into the
   * same collection from other callers (a worker's concurrent jobs) wait and then go together in
   * one request of at most the batch size. Chroma 1.0 spends tens of milliseconds on every upsert
   * whatever its size, and a Markdown page is about a dozen chunks, so one request per document
   * kept Sluice at a fraction of Chroma's write rate (see docs/performance.md). Each caller's
   * promise still resolves only once its own records are stored.
   * @defaultValue true
   */
  coalesceWrites?: boolean;
  /**
   * Batched lookups of stored chunks: while one {@link ChromaStore.storedChunks} read of a
   * collection is in flight, lookups of other documents wait and then go together in one `get`
   * (`docId` `$in` up to 64 documents), for the same reason as `coalesceWrites`.
   * @defaultValue true
   */
  coalesceReads?: boolean;
  /**
   * Records per read request when paging through a document's IDs or a collection's metadata.
   * @defaultValue 1000
   */
  pageSize?: number;
  /**
   * Deadline of one Chroma request: past it the request is cancelled (its HTTP request
   * aborted) and reported as `DEPENDENCY_UNAVAILABLE`.
   * @defaultValue 60000
   */
  requestTimeoutMs?: number;
  /**
   * Extra HTTP headers for every request, e.g. `{ 'x-chroma-token': '…' }`.
   * @defaultValue none
   */
  headers?: Record<string, string>;
}

type ResolvedOptions = Required<Omit<ChromaStoreOptions, 'dimensions' | 'headers'>> &
  Pick<ChromaStoreOptions, 'dimensions' | 'headers'>;

/** Most documents whose chunk IDs one batched read asks for (see `coalesceReads`). */
const MAX_DOCS_PER_READ = 64;

/** Metadata key under which a collection records its vector length. */
const DIMENSIONS_KEY = 'sluice:dimensions';

/**
 * The Chroma adapter of the ingestion pipeline: idempotent batched upserts, the per-document
 * queries that incremental re-ingest and stale-chunk cleanup need, and similarity search.
 *
 * Guarantees:
 * - collections are created on first write (or {@link ChromaStore.collection}) with no embedding
 *   function (Sluice always sends vectors, so the client never loads
 *   `@chroma-core/default-embed`) and the configured distance `space`; reads of a collection that
 *   does not exist answer as for an empty one and do not create it; handles are cached per name;
 * - writes go in batches of at most `min(server max batch size, maxBatchSize)`; the caller's
 *   signal is checked before each batch and also ends the wait for the batch in flight;
 * - concurrent upserts into one collection share requests (group commit, `coalesceWrites`), and
 *   an upsert resolves only once its own records are stored; concurrent lookups of stored chunk
 *   IDs share reads (`coalesceReads`);
 * - a collection deleted behind the store's back is re-opened once, transparently;
 * - errors are {@link SluiceError}s with the original as `cause`: an unreachable, failing
 *   (5xx), rate-limiting or too slow Chroma is `DEPENDENCY_UNAVAILABLE` (retryable); a request
 *   Chroma refuses as invalid (wrong vector length, bad metadata) is `INVALID_REQUEST`.
 */
export class ChromaStore implements ChunkStore {
  /** The underlying chromadb client, for what this adapter does not cover. */
  readonly client: ChromaClient;
  readonly #options: ResolvedOptions;
  readonly #collections = new Map<string, Promise<Collection>>();
  readonly #writers = new Map<string, WriteCoalescer<ChunkRecord>>();
  readonly #readers = new Map<string, ReadCoalescer<string, Map<string, StoredChunk>>>();
  #batchSize: Promise<number> | undefined;

  constructor(options: ChromaStoreOptions) {
    this.#options = {
      space: 'cosine',
      maxBatchSize: 256,
      coalesceWrites: true,
      coalesceReads: true,
      pageSize: 1000,
      requestTimeoutMs: 60_000,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    } as ResolvedOptions;
    const url = new URL(this.#options.url);
    if (url.pathname !== '/' && url.pathname !== '') {
      // chromadb 3.x builds `scheme://host:port` and would silently drop a path prefix.
      throw new RangeError(`Chroma URL must not have a path (chromadb 3.x ignores it): ${this.#options.url}`);
    }
    const ssl = url.protocol === 'https:';
    this.client = new ChromaClient({
      host: url.hostname,
      port: url.port ? Number(url.port) : ssl ? 443 : 80,
      ssl,
      ...(this.#options.headers ? { headers: this.#options.headers } : {}),
    });
    // chromadb takes no per-call signal; each call's own signal reaches its HTTP request here, so
    // that a call that is stopped really cancels its request instead of leaving it running.
    (this.client as unknown as ChromaInternals).apiClient.interceptors.request.use((request) => {
      const signal = REQUEST_SIGNAL.getStore();
      return signal ? new Request(request, { signal }) : request;
    });
  }

  /**
   * The cached handle of a collection, created on first use (see the class description).
   * @throws SluiceError `INVALID_REQUEST` for a bad name (before any request) or a collection that
   * recorded a different vector length than {@link ChromaStoreOptions.dimensions}
   */
  async collection(name: string): Promise<Collection> {
    validateCollectionName(name);
    let handle = this.#collections.get(name);
    if (!handle) {
      handle = this.#open(name);
      this.#collections.set(name, handle);
      // A failed open must not stay cached; the caller still sees the rejection.
      void handle.catch(() => this.#collections.delete(name));
    }
    return handle;
  }

  async #open(name: string): Promise<Collection> {
    const { space, dimensions } = this.#options;
    const collection = await this.#call(`open collection ${name}`, undefined, () =>
      this.client.getOrCreateCollection({
        name,
        embeddingFunction: null,
        configuration: { hnsw: { space } },
        ...(dimensions === undefined ? {} : { metadata: { [DIMENSIONS_KEY]: dimensions } }),
      }),
    );
    return this.#checked(collection);
  }

  /** Opens an existing collection without creating it; `undefined` when there is none. */
  async #openExisting(name: string, signal: AbortSignal | undefined): Promise<Collection | undefined> {
    validateCollectionName(name);
    const cached = this.#collections.get(name);
    if (cached) return cached;
    try {
      // getCollection() resolves an embedding function only from the server's configuration,
      // which is null for collections this store created: nothing is loaded.
      const collection = this.#checked(
        await this.#call(`open collection ${name}`, signal, () => this.client.getCollection({ name })),
      );
      this.#collections.set(name, Promise.resolve(collection));
      return collection;
    } catch (err) {
      if (err instanceof SluiceError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  #checked(collection: Collection): Collection {
    const { dimensions } = this.#options;
    const recorded = collection.metadata?.[DIMENSIONS_KEY];
    if (dimensions !== undefined && typeof recorded === 'number' && recorded !== dimensions) {
      throw new SluiceError(
        'INVALID_REQUEST',
        `collection ${collection.name} holds ${recorded}-dimensional vectors, but the embedder makes ${dimensions}; ` +
          'use another collection or delete this one first',
        { details: { field: 'collection', collection: collection.name, recorded, dimensions } },
      );
    }
    return collection;
  }

  /** Server batch limit and ours, whichever is smaller; asked once. */
  async #maxBatch(): Promise<number> {
    if (!this.#batchSize) {
      const { maxBatchSize } = this.#options;
      const asked = this.#call('read the max batch size', undefined, () => this.client.getMaxBatchSize());
      this.#batchSize = asked.then((server) => (server > 0 ? Math.min(server, maxBatchSize) : maxBatchSize));
      // A failed read is asked again next time instead of being cached.
      void this.#batchSize.catch(() => (this.#batchSize = undefined));
    }
    return this.#batchSize;
  }

  /**
   * Writes records, inserting new IDs and overwriting existing ones, in batches. Writing the same
   * records again leaves the collection unchanged.
   * @throws the signal's reason when `signal` aborts (batches already written stay written)
   */
  async upsert(collection: string, records: readonly ChunkRecord[], signal?: AbortSignal): Promise<void> {
    const { dimensions } = this.#options;
    if (dimensions !== undefined) {
      const bad = records.find((r) => r.embedding.length !== dimensions);
      if (bad) {
        throw new SluiceError(
          'INVALID_REQUEST',
          `record ${bad.id} has a ${bad.embedding.length}-dimensional vector, expected ${dimensions}`,
          { details: { field: 'embedding', collection } },
        );
      }
    }
    if (records.length === 0) return;
    const size = await this.#maxBatch();
    const writer = this.#options.coalesceWrites ? this.#writer(collection, size) : undefined;
    for (let start = 0; start < records.length; start += size) {
      signal?.throwIfAborted();
      const batch = records.slice(start, start + size);
      if (writer) await writer.submit(batch, signal);
      else await this.#upsertNow(collection, batch, signal);
    }
  }

  /** The group-commit writer of a collection (see {@link ChromaStoreOptions.coalesceWrites}). */
  #writer(collection: string, maxItems: number): WriteCoalescer<ChunkRecord> {
    let writer = this.#writers.get(collection);
    if (!writer) {
      writer = new WriteCoalescer<ChunkRecord>({
        maxItems,
        // A shared write is cancelled when any of its callers' signals aborts (their leases must
        // not outlive it); the coalescer then writes the others again.
        write: (batch, signal) => this.#upsertNow(collection, batch, signal),
        key: (record) => record.id,
        // A record Chroma refuses fails only the caller that sent it.
        isolate: (err) => err instanceof SluiceError && err.code === 'INVALID_REQUEST',
      });
      this.#writers.set(collection, writer);
    }
    return writer;
  }

  async #upsertNow(
    collection: string,
    batch: readonly ChunkRecord[],
    signal: AbortSignal | undefined,
  ): Promise<void> {
    await this.#withCollection(collection, signal, `upsert ${batch.length} records into ${collection}`, (c) =>
      c.upsert({
        ids: batch.map((r) => r.id),
        embeddings: batch.map((r) => r.embedding as number[]),
        documents: batch.map((r) => r.document),
        metadatas: batch.map((r) => r.metadata),
      }),
    );
  }

  /**
   * The chunks stored for one document, with their metadata (none for a missing collection), read
   * page by page. Pages are read by offset, so a concurrent write to the same document may be
   * missed or seen; callers serialise work per document.
   */
  async storedChunks(
    collection: string,
    docId: string,
    signal?: AbortSignal,
  ): Promise<Map<string, StoredChunk>> {
    validateDocId(docId);
    if (!this.#options.coalesceReads) {
      return (await this.#readChunks(collection, [docId], signal)).get(docId) ?? new Map();
    }
    let reader = this.#readers.get(collection);
    if (!reader) {
      reader = new ReadCoalescer<string, Map<string, StoredChunk>>({
        maxKeys: MAX_DOCS_PER_READ,
        // A shared read belongs to no single caller; each stops waiting on its own signal.
        read: (docIds) => this.#readChunks(collection, docIds, undefined),
        missing: () => new Map(),
      });
      this.#readers.set(collection, reader);
    }
    // A copy: lookups of one document in the same read must not share a mutable map.
    return new Map(await reader.get(docId, signal));
  }

  /** The stored chunks of some documents, read page by page (by docId alone, or with `$in`). */
  async #readChunks(
    collection: string,
    docIds: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<Map<string, Map<string, StoredChunk>>> {
    const out = new Map(docIds.map((id) => [id, new Map<string, StoredChunk>()]));
    const { pageSize } = this.#options;
    const where = docIds.length === 1 ? { docId: docIds[0]! } : { docId: { $in: [...docIds] } };
    for (let offset = 0; ; offset += pageSize) {
      signal?.throwIfAborted();
      const page = await this.#withCollection(
        collection,
        signal,
        `read the chunks of ${docIds.length === 1 ? docIds[0] : `${docIds.length} documents`}`,
        (c) => c.get({ where, include: ['metadatas'], limit: pageSize, offset }),
        () => undefined,
      );
      if (!page) return out;
      page.ids.forEach((id, i) => {
        const metadata = (page.metadatas[i] ?? {}) as ChunkMetadata;
        const owner = metadata.docId;
        if (typeof owner === 'string') out.get(owner)?.set(id, { metadata });
      });
      if (page.ids.length < pageSize) return out;
    }
  }

  /**
   * Replaces the metadata of stored records, keeping their vectors and texts (nothing is
   * embedded again). Chroma 1.0 merges metadata on `update` and `upsert` alike and cannot remove
   * a key, so a record that loses a key is deleted and added again whole, with its stored vector
   * (for that moment it is absent; a run cut off in between leaves it missing, and the job's next
   * run writes it again).
   */
  async updateMetadata(
    collection: string,
    records: readonly { id: string; metadata: ChunkRecord['metadata']; previous: ChunkMetadata }[],
    signal?: AbortSignal,
  ): Promise<void> {
    if (records.length === 0) return;
    const size = await this.#maxBatch();
    const merged = records.filter((r) =>
      Object.keys(r.previous).every((key) => Object.hasOwn(r.metadata, key)),
    );
    const rewritten = records.filter((r) => !merged.includes(r));
    for (let start = 0; start < merged.length; start += size) {
      signal?.throwIfAborted();
      const batch = merged.slice(start, start + size);
      await this.#withCollection(collection, signal, `update the metadata of ${batch.length} records`, (c) =>
        c.update({ ids: batch.map((r) => r.id), metadatas: batch.map((r) => r.metadata) }),
      );
    }
    for (let start = 0; start < rewritten.length; start += size) {
      signal?.throwIfAborted();
      const batch = rewritten.slice(start, start + size);
      const stored = await this.#withCollection(collection, signal, `read ${batch.length} records`, (c) =>
        c.get({ ids: batch.map((r) => r.id), include: ['embeddings', 'documents'] }),
      );
      const byId = new Map(stored.ids.map((id, i) => [id, i]));
      const present = batch.filter((r) => byId.has(r.id));
      await this.deleteIds(
        collection,
        present.map((r) => r.id),
        signal,
      );
      await this.#upsertNow(
        collection,
        present.map((r) => ({
          id: r.id,
          embedding: stored.embeddings[byId.get(r.id)!]!,
          document: stored.documents[byId.get(r.id)!] ?? '',
          metadata: r.metadata,
        })),
        signal,
      );
    }
  }

  /**
   * Every record of a collection (ID, text, metadata), page by page, for an audit. Nothing for a
   * missing collection.
   */
  async *scan(collection: string, signal?: AbortSignal): AsyncGenerator<StoredRecord[]> {
    for await (const page of this.#pages(
      collection,
      ['metadatas', 'documents'],
      'read the records',
      signal,
    )) {
      yield page.ids.map((id, i) => ({
        id,
        text: page.documents[i] ?? '',
        metadata: (page.metadatas[i] ?? {}) as ChunkMetadata,
      }));
    }
  }

  /** A collection's records, `pageSize` at a time, with the fields asked for. */
  async *#pages(
    collection: string,
    include: ('metadatas' | 'documents')[],
    what: string,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<{
    ids: string[];
    documents: (string | null)[];
    metadatas: (Record<string, unknown> | null)[];
  }> {
    const { pageSize } = this.#options;
    for (let offset = 0; ; offset += pageSize) {
      signal?.throwIfAborted();
      const page = await this.#withCollection(
        collection,
        signal,
        `${what} of ${collection}`,
        (c) => c.get({ include, limit: pageSize, offset }),
        () => undefined,
      );
      if (!page) return;
      yield page;
      if (page.ids.length < pageSize) return;
    }
  }

  /** Deletes records by ID, in batches. IDs that are not stored, or a missing collection, are ignored. */
  async deleteIds(collection: string, ids: Iterable<string>, signal?: AbortSignal): Promise<void> {
    const all = [...ids];
    if (all.length === 0) return;
    const size = await this.#maxBatch();
    for (let start = 0; start < all.length; start += size) {
      signal?.throwIfAborted();
      const batch = all.slice(start, start + size);
      await this.#withCollection(
        collection,
        signal,
        `delete ${batch.length} records from ${collection}`,
        (c) => c.delete({ ids: batch }),
        () => undefined,
      );
    }
  }

  /**
   * Deletes every chunk of a document and returns how many there were. The Chroma 1.0 server
   * reports no count for deletes, so the IDs are read first and deleted by ID; a final delete by
   * `docId` then removes anything written in between (not counted).
   */
  async deleteDocument(collection: string, docId: string, signal?: AbortSignal): Promise<number> {
    const ids = [...(await this.storedChunks(collection, docId, signal)).keys()];
    await this.deleteIds(collection, ids, signal);
    signal?.throwIfAborted();
    await this.#withCollection(
      collection,
      signal,
      `delete the chunks of ${docId}`,
      (c) => c.delete({ where: { docId } }),
      () => undefined,
    );
    return ids.length;
  }

  /**
   * The documents of a collection, sorted by docId, read from the chunks' metadata page by page
   * (one request per `pageSize` chunks).
   *
   * `contentHash` is the one carried by the most recently written chunk when chunks carry a
   * numeric `ingestedAt`; otherwise the one carried by most chunks (ties: the greatest). Why not
   * simply "the most common": incremental re-ingest does not rewrite unchanged chunks, so after a
   * small edit most chunks still carry the previous version's hash; the chunks the new version
   * wrote carry the new one. A version that only removed chunks leaves the old hash visible.
   */
  async listDocuments(collection: string, signal?: AbortSignal): Promise<StoredDocument[]> {
    interface Tally {
      chunks: number;
      hashes: Map<string, number>;
      newest: { at: number; hash: string } | undefined;
    }
    const documents = new Map<string, Tally>();
    for await (const page of this.#pages(collection, ['metadatas'], 'list the documents', signal)) {
      for (const metadata of page.metadatas) {
        const docId = metadata?.docId;
        if (typeof docId !== 'string') continue;
        let tally = documents.get(docId);
        if (!tally) documents.set(docId, (tally = { chunks: 0, hashes: new Map(), newest: undefined }));
        tally.chunks += 1;
        const hash = metadata?.contentHash;
        if (typeof hash !== 'string') continue;
        tally.hashes.set(hash, (tally.hashes.get(hash) ?? 0) + 1);
        const at = metadata?.ingestedAt;
        if (typeof at === 'number' && (!tally.newest || at > tally.newest.at)) tally.newest = { at, hash };
      }
    }
    return [...documents]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([docId, tally]) => ({
        docId,
        contentHash: tally.newest?.hash ?? mostCommon(tally.hashes),
        chunks: tally.chunks,
      }));
  }

  /**
   * The `k` records nearest to `embedding`, nearest first. `score` is `1 - distance` for `cosine`
   * (cosine similarity) and `ip` (the dot product), and `1 - distance / 2` for `l2` (Chroma's
   * squared L2 distance, which for unit vectors makes it the cosine similarity too).
   */
  async query(
    collection: string,
    embedding: readonly number[],
    k: number,
    signal?: AbortSignal,
  ): Promise<ChromaMatch[]> {
    if (!Number.isInteger(k) || k < 1) {
      throw new SluiceError('INVALID_REQUEST', `k must be a positive integer, got ${k}`, {
        details: { field: 'k' },
      });
    }
    let space: ChromaSpace = this.#options.space;
    const result = await retryServerErrors(signal, () =>
      this.#withCollection(
        collection,
        signal,
        `query ${collection}`,
        (c) => {
          space = c.configuration.hnsw?.space ?? c.configuration.spann?.space ?? space;
          return c.query({
            queryEmbeddings: [embedding as number[]],
            nResults: k,
            include: ['documents', 'metadatas', 'distances'],
          });
        },
        () => undefined,
      ),
    );
    if (!result) return [];
    const ids = result.ids[0] ?? [];
    return ids.map((id, i) => {
      const distance = result.distances[0]?.[i] ?? Number.NaN;
      const metadata = (result.metadatas[0]?.[i] ?? {}) as ChunkMetadata;
      return {
        id,
        text: result.documents[0]?.[i] ?? '',
        score: space === 'l2' ? 1 - distance / 2 : 1 - distance,
        metadata,
      };
    });
  }

  /** Number of records in a collection; 0 for a collection that does not exist. */
  async count(collection: string, signal?: AbortSignal): Promise<number> {
    return this.#withCollection(
      collection,
      signal,
      `count ${collection}`,
      (c) => c.count(),
      () => 0,
    );
  }

  /** Deletes a collection and all its records; a missing collection is not an error. */
  async dropCollection(name: string, signal?: AbortSignal): Promise<void> {
    validateCollectionName(name);
    this.#collections.delete(name);
    try {
      await this.#call(`delete collection ${name}`, signal, () => this.client.deleteCollection({ name }));
    } catch (err) {
      if (!(err instanceof SluiceError && err.code === 'NOT_FOUND')) throw err;
    }
  }

  /**
   * Resolves when Chroma answers its heartbeat, for readiness probes.
   * @throws SluiceError `DEPENDENCY_UNAVAILABLE` when it does not
   */
  async heartbeat(signal?: AbortSignal): Promise<void> {
    await this.#call('heartbeat', signal, () => this.client.heartbeat());
  }

  /**
   * Runs an operation on a collection. Writes (no `ifMissing`) create the collection and re-open it
   * once if it was deleted behind our back; reads answer `ifMissing()` for a missing collection
   * instead of creating one.
   */
  async #withCollection<T>(
    name: string,
    signal: AbortSignal | undefined,
    what: string,
    operation: (collection: Collection) => Promise<T>,
    ifMissing?: () => T,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let collection: Collection;
      if (ifMissing) {
        const existing = await this.#openExisting(name, signal);
        if (!existing) return ifMissing();
        collection = existing;
      } else {
        collection = await this.collection(name);
      }
      try {
        return await this.#call(what, signal, () => operation(collection));
      } catch (err) {
        if (attempt > 0 || !(err instanceof SluiceError && err.code === 'NOT_FOUND')) throw err;
        this.#collections.delete(name);
      }
    }
  }

  /**
   * Runs one chromadb call under the request deadline and the caller's signal, and maps its
   * errors. Stopping (abort or deadline) cancels the call's HTTP request, and the call settles
   * before this rejects: when it returns or throws, no request of it is still under way.
   */
  async #call<T>(what: string, signal: AbortSignal | undefined, operation: () => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    const { requestTimeoutMs } = this.#options;
    const request = new AbortController();
    const deadline = setTimeout(() => request.abort(), requestTimeoutMs);
    const onAbort = () => request.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await REQUEST_SIGNAL.run(request.signal, operation);
    } catch (err) {
      // A cancelled request has settled on this side; give the server the moment it needs to
      // see the connection close, so that it does not start on the request afterwards.
      if (request.signal.aborted) await sleep(CANCEL_GRACE_MS);
      if (signal?.aborted) throw signal.reason;
      if (request.signal.aborted) {
        throw new SluiceError(
          'DEPENDENCY_UNAVAILABLE',
          `Chroma did not ${what} within ${requestTimeoutMs} ms`,
          {
            cause: err,
            details: { dependency: 'chroma' },
          },
        );
      }
      throw toStoreError(err, what);
    } finally {
      clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** Pauses before the second and third try of a read that Chroma failed with a server error. */
const READ_RETRY_DELAYS_MS = [100, 400] as const;

/**
 * Runs an idempotent read again when Chroma answered it with a server error (5xx), twice at most.
 * A local Chroma fails a query now and then while it compacts the first records of a collection
 * ("Error creating hnsw segment reader: Nothing found on disk"); the next try succeeds. An
 * unreachable or too slow Chroma is not retried here: that is an outage, and the caller's to handle.
 */
async function retryServerErrors<T>(signal: AbortSignal | undefined, read: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      const delayMs = READ_RETRY_DELAYS_MS[attempt];
      const serverError =
        err instanceof SluiceError && (err.cause as Error | undefined)?.name === 'ChromaServerError';
      if (delayMs === undefined || !serverError) throw err;
      await sleep(delayMs, undefined, { signal });
    }
  }
}

/** How long a cancelled request is given to reach the server as a closed connection. */
const CANCEL_GRACE_MS = 250;

/** The signal of the chromadb call under way, for the request interceptor. */
const REQUEST_SIGNAL = new AsyncLocalStorage<AbortSignal>();

/** The part of chromadb's client the request interceptor needs (not in its public types). */
interface ChromaInternals {
  apiClient: { interceptors: { request: { use(fn: (request: Request) => Request): void } } };
}

/** One record of a collection, as {@link ChromaStore.scan} reads it. */
export interface StoredRecord {
  id: string;
  text: string;
  metadata: ChunkMetadata;
}

function mostCommon(counts: ReadonlyMap<string, number>): string | undefined {
  let best: string | undefined;
  let bestCount = 0;
  for (const [value, count] of counts) {
    if (count > bestCount || (count === bestCount && best !== undefined && value > best)) {
      best = value;
      bestCount = count;
    }
  }
  return best;
}

/** chromadb's error classes, by name (robust against two copies of the package). */
function toStoreError(err: unknown, what: string): SluiceError {
  if (err instanceof SluiceError) return err;
  const name = err instanceof Error ? err.name : '';
  const message = err instanceof Error ? err.message : String(err);
  const details = { dependency: 'chroma' };
  switch (name) {
    case 'ChromaConnectionError':
      return new SluiceError('DEPENDENCY_UNAVAILABLE', `Chroma is unreachable (${what}): ${message}`, {
        cause: err,
        details,
      });
    case 'ChromaServerError':
    case 'ChromaRateLimitError':
    case 'ChromaQuotaExceededError':
    case 'ChromaUnauthorizedError':
    case 'ChromaForbiddenError':
      return new SluiceError('DEPENDENCY_UNAVAILABLE', `Chroma failed to ${what}: ${message}`, {
        cause: err,
        details,
      });
    case 'ChromaNotFoundError':
      return new SluiceError('NOT_FOUND', `Chroma could not find what it needs to ${what}: ${message}`, {
        cause: err,
        details,
      });
    case 'ChromaClientError':
    case 'ChromaValueError':
    case 'ChromaUniqueError':
    case 'InvalidArgumentError':
      return new SluiceError('INVALID_REQUEST', `Chroma refused to ${what}: ${message}`, {
        cause: err,
        details,
      });
    default:
      return new SluiceError('INTERNAL', `Chroma call failed (${what}): ${message}`, { cause: err, details });
  }
}
