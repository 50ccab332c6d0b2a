import { SluiceError } from '@sluice/core';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { GatedProxy, isChromaQuery, isChromaWrite } from '../../../test/support/gated-proxy.js';
import { uniqueName } from '../../../test/support/names.js';
import { ChromaStore, type ChromaStoreOptions } from './chroma-store.js';
import type { ChunkRecord } from './chunk-store.js';

const chromaUrl = inject('chromaUrl');
const DIMS = 384;

/** A small deterministic PRNG (mulberry32), so the vectors are the same on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function unitVector(random: () => number, dims = DIMS): number[] {
  const vector = Array.from({ length: dims }, () => random() - 0.5);
  const norm = Math.sqrt(vector.reduce((sum, v) => sum + v * v, 0));
  return vector.map((v) => v / norm);
}

/** `count` records per document, IDs `<docId>-<n>`. */
function records(
  docs: Record<string, number>,
  seed = 1,
  extra: Record<string, string | number> = {},
): ChunkRecord[] {
  const random = prng(seed);
  return Object.entries(docs).flatMap(([docId, count]) =>
    Array.from({ length: count }, (_, chunkIndex) => ({
      id: `${docId}-${chunkIndex}`,
      embedding: unitVector(random),
      document: `chunk ${chunkIndex} of ${docId}`,
      metadata: { docId, contentHash: `hash-of-${docId}`, chunkIndex, ...extra },
    })),
  );
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

/** A store and a fresh collection name, dropped after the test. */
function setup(label: string, options: Partial<ChromaStoreOptions> = {}) {
  const store = new ChromaStore({ url: chromaUrl, dimensions: DIMS, ...options });
  const collection = uniqueName(label);
  // Dropped with a store of its own: the test's store may have a deliberately tiny deadline.
  cleanups.push(() => new ChromaStore({ url: chromaUrl }).dropCollection(collection));
  return { store, collection };
}

async function failure(promise: Promise<unknown>): Promise<SluiceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof SluiceError)) throw new Error(`expected a SluiceError, got ${String(err)}`);
  return err;
}

describe('ChromaStore (real Chroma)', () => {
  it('answers its heartbeat', async () => {
    const { store } = setup('heartbeat');
    await expect(store.heartbeat()).resolves.toBeUndefined();
  });

  it('creates collections with cosine space and no embedding function', async () => {
    const { store, collection } = setup('config');
    const handle = await store.collection(collection);
    expect(handle.configuration.hnsw?.space).toBe('cosine');
    expect(handle.configuration.embeddingFunction ?? null).toBeNull();
    expect(handle.metadata).toEqual({ 'sluice:dimensions': DIMS });
    expect(await store.collection(collection)).toBe(handle);
  });

  it('upserts idempotently, in batches, and finds, deletes and lists documents', async () => {
    // A small page size makes storedChunks and listDocuments page.
    const { store, collection } = setup('lifecycle', { pageSize: 128 });
    const all = records({ alpha: 300, beta: 200, gamma: 100 });
    expect(all).toHaveLength(600);

    await store.upsert(collection, all);
    expect(await store.count(collection)).toBe(600);
    await store.upsert(collection, all);
    expect(await store.count(collection)).toBe(600);

    const alpha = await store.storedChunks(collection, 'alpha');
    expect(new Set(alpha.keys())).toEqual(
      new Set(all.filter((r) => r.metadata.docId === 'alpha').map((r) => r.id)),
    );
    expect(alpha.get('alpha-0')?.metadata).toEqual(all.find((r) => r.id === 'alpha-0')?.metadata);
    expect((await store.storedChunks(collection, 'beta')).size).toBe(200);
    expect((await store.storedChunks(collection, 'nope')).size).toBe(0);

    await store.deleteIds(collection, ['alpha-0', 'alpha-1', 'alpha-299', 'not-stored']);
    const after = await store.storedChunks(collection, 'alpha');
    expect(after.size).toBe(297);
    expect(after.has('alpha-0')).toBe(false);
    expect(after.has('alpha-2')).toBe(true);

    expect(await store.deleteDocument(collection, 'beta')).toBe(200);
    expect(await store.deleteDocument(collection, 'beta')).toBe(0);
    expect(await store.count(collection)).toBe(397);

    expect(await store.listDocuments(collection)).toEqual([
      { docId: 'alpha', contentHash: 'hash-of-alpha', chunks: 297 },
      { docId: 'gamma', contentHash: 'hash-of-gamma', chunks: 100 },
    ]);
  });

  it('lists the newest version of a document after an incremental re-ingest', async () => {
    const { store, collection } = setup('versions');
    const v1 = records({ doc: 10 }, 2, { ingestedAt: 1000 }).map((r) => ({
      ...r,
      metadata: { ...r.metadata, contentHash: 'v1' },
    }));
    await store.upsert(collection, v1);
    // v2 kept 8 chunks (not rewritten, so still tagged v1), dropped 2, added 1.
    await store.deleteIds(collection, ['doc-8', 'doc-9']);
    await store.upsert(collection, [
      { ...v1[0]!, id: 'doc-new', metadata: { ...v1[0]!.metadata, contentHash: 'v2', ingestedAt: 2000 } },
    ]);
    // Without ingestedAt, the most common hash wins.
    await store.upsert(collection, records({ plain: 3 }, 3));
    expect(await store.listDocuments(collection)).toEqual([
      { docId: 'doc', contentHash: 'v2', chunks: 9 },
      { docId: 'plain', contentHash: 'hash-of-plain', chunks: 3 },
    ]);
  });

  it('returns the nearest record first, with cosine similarity as score', async () => {
    const { store, collection } = setup('query');
    const all = records({ q: 200 }, 4);
    await store.upsert(collection, all);
    const target = all[42]!;
    const noise = prng(99);
    const probe = target.embedding.map((v) => v + (noise() - 0.5) * 0.01);
    const matches = await store.query(collection, probe, 5);
    expect(matches).toHaveLength(5);
    expect(matches[0]).toMatchObject({ id: 'q-42', text: 'chunk 42 of q', metadata: target.metadata });
    expect(matches[0]!.score).toBeGreaterThan(0.99);
    expect(matches[1]!.score).toBeLessThan(matches[0]!.score);
    expect(await store.query(collection, target.embedding, 500)).toHaveLength(200);
  });

  it('returns nothing from an empty collection', async () => {
    const { store, collection } = setup('empty');
    await store.collection(collection);
    expect(await store.query(collection, unitVector(prng(5)), 3)).toEqual([]);
    expect(await store.listDocuments(collection)).toEqual([]);
    expect(await store.count(collection)).toBe(0);
  });

  it('answers reads of a missing collection as empty, without creating it', async () => {
    const { store, collection } = setup('missing');
    expect(await store.query(collection, unitVector(prng(6)), 3)).toEqual([]);
    expect(await store.listDocuments(collection)).toEqual([]);
    expect(await store.storedChunks(collection, 'doc')).toEqual(new Map());
    expect(await store.count(collection)).toBe(0);
    expect(await store.deleteDocument(collection, 'doc')).toBe(0);
    await expect(store.client.getCollection({ name: collection })).rejects.toMatchObject({
      name: 'ChromaNotFoundError',
    });
  });

  it('rejects bad collection names and docIds before calling Chroma', async () => {
    const { store } = setup('names');
    for (const name of ['ab', 'a..b', '192.168.0.1', '-abc', 'has space']) {
      const error = await failure(store.upsert(name, records({ x: 1 })));
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.details).toMatchObject({ field: 'collection' });
    }
    const error = await failure(store.storedChunks(uniqueName('names'), 'a\nb'));
    expect(error.details).toMatchObject({ field: 'docId' });
  });

  it('refuses vectors of the wrong length, before and at Chroma', async () => {
    const { store, collection } = setup('dims');
    await store.upsert(collection, records({ d: 2 }));
    const short = records({ d: 1 }).map((r) => ({ ...r, embedding: r.embedding.slice(0, 10) }));
    expect((await failure(store.upsert(collection, short))).code).toBe('INVALID_REQUEST');

    const unchecked = new ChromaStore({ url: chromaUrl });
    const error = await failure(unchecked.upsert(collection, short));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toMatch(/dimension/);

    const other = new ChromaStore({ url: chromaUrl, dimensions: 1536 });
    const mismatch = await failure(other.count(collection));
    expect(mismatch.code).toBe('INVALID_REQUEST');
    expect(mismatch.message).toMatch(/holds 384-dimensional vectors, but the embedder makes 1536/);
  });

  it('re-opens a collection that was deleted behind its back', async () => {
    const { store, collection } = setup('reopen');
    await store.upsert(collection, records({ r: 3 }));
    await store.client.deleteCollection({ name: collection });
    expect(await store.count(collection)).toBe(0);
    await store.upsert(collection, records({ r: 2 }));
    expect(await store.count(collection)).toBe(2);
  });

  it('stops at the next batch when the signal aborts', async () => {
    const { store, collection } = setup('abort', { maxBatchSize: 50 });
    const controller = new AbortController();
    const reason = new Error('preempted');
    controller.abort(reason);
    await expect(store.upsert(collection, records({ a: 100 }), controller.signal)).rejects.toBe(reason);
    expect(await store.count(collection)).toBe(0);
  });

  it('cancels a write that is stopped while under way, and settles before it rejects: it never lands later', async () => {
    const proxy = await GatedProxy.start(chromaUrl);
    cleanups.push(() => proxy.close());
    const { store, collection } = setup('cut-off', { url: proxy.url });
    await store.upsert(collection, records({ first: 1 }));
    proxy.holdWhen(isChromaWrite);
    const controller = new AbortController();
    const reason = new Error('lease lost');
    const write = store.upsert(collection, records({ late: 3 }, 2), controller.signal);
    await proxy.held();
    controller.abort(reason);
    await expect(write).rejects.toBe(reason);
    // The slow server gets to the request only now: its client is gone, so it never lands.
    proxy.release();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(proxy.dropped).toBe(1);
    expect(proxy.forwarded).toBe(0);
    expect(await store.count(collection)).toBe(1);
  });

  it('tries a query again when Chroma fails it with a server error, twice at most', async () => {
    const proxy = await GatedProxy.start(chromaUrl);
    cleanups.push(() => proxy.close());
    const { store, collection } = setup('query-retry', { url: proxy.url });
    const [record] = records({ doc: 1 });
    await store.upsert(collection, [record!]);
    // What a local Chroma answers while it compacts the first records of a collection.
    const internal = {
      error: 'InternalError',
      message:
        'Error executing plan: Internal error: Error creating hnsw segment reader: Nothing found on disk',
    };
    proxy.failNext(isChromaQuery, 2, 500, internal);
    expect((await store.query(collection, record!.embedding, 1))[0]?.id).toBe(record!.id);
    expect(proxy.failed).toBe(2);
    proxy.failNext(isChromaQuery, 3, 500, internal);
    const failure = await store.query(collection, record!.embedding, 1).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SluiceError);
    expect(failure).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    expect((failure as Error).message).toContain('Nothing found on disk');
    expect(proxy.failed).toBe(5);
  });

  it('updates metadata in place, without the vectors, and removes keys the new metadata lacks', async () => {
    const { store, collection } = setup('update');
    const [a, b] = records({ doc: 2 }, 3, { page: 1, team: 'sre' });
    await store.upsert(collection, [a!, b!]);
    const before = await store.storedChunks(collection, 'doc');
    await store.updateMetadata(collection, [
      { id: a!.id, metadata: { ...a!.metadata, page: 2 }, previous: before.get(a!.id)!.metadata },
      {
        id: b!.id,
        metadata: { docId: 'doc', chunkIndex: 1, contentHash: 'new' },
        previous: before.get(b!.id)!.metadata,
      },
    ]);
    const after = await store.storedChunks(collection, 'doc');
    expect(after.get(a!.id)?.metadata).toEqual({ ...a!.metadata, page: 2 });
    expect(after.get(b!.id)?.metadata).toEqual({ docId: 'doc', chunkIndex: 1, contentHash: 'new' });
    // The vectors are the ones first written: the nearest record to each is itself.
    expect((await store.query(collection, a!.embedding, 1))[0]?.id).toBe(a!.id);
    expect((await store.query(collection, b!.embedding, 1))[0]).toMatchObject({
      id: b!.id,
      text: b!.document,
    });
  });

  it('scans a whole collection page by page, with texts and metadata', async () => {
    const { store, collection } = setup('scan', { pageSize: 64 });
    const all = records({ x: 100, y: 50 });
    await store.upsert(collection, all);
    const seen = [];
    for await (const page of store.scan(collection)) seen.push(...page);
    expect(seen).toHaveLength(150);
    expect(new Set(seen.map((r) => r.id))).toEqual(new Set(all.map((r) => r.id)));
    expect(seen.find((r) => r.id === 'y-3')).toEqual({
      id: 'y-3',
      text: 'chunk 3 of y',
      metadata: all.find((r) => r.id === 'y-3')!.metadata,
    });
    const empty = [];
    for await (const page of store.scan(uniqueName('never'))) empty.push(...page);
    expect(empty).toEqual([]);
  });

  it('maps an unreachable Chroma to DEPENDENCY_UNAVAILABLE, keeping the cause', async () => {
    const store = new ChromaStore({ url: 'http://127.0.0.1:9' });
    const error = await failure(store.heartbeat());
    expect(error.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect((error.cause as Error).name).toBe('ChromaConnectionError');
    expect((await failure(store.upsert('runbooks', records({ u: 1 })))).code).toBe('DEPENDENCY_UNAVAILABLE');
  });

  it('gives up on a request past requestTimeoutMs', async () => {
    const { store, collection } = setup('timeout', { requestTimeoutMs: 1 });
    const error = await failure(store.upsert(collection, records({ t: 256 })));
    expect(error.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(error.message).toMatch(/within 1 ms/);
  });

  it('measures upsert throughput, batch 256 vs batch 1 (reported, not asserted)', async () => {
    const batched = setup('rate-256', { maxBatchSize: 256 });
    const single = setup('rate-1', { maxBatchSize: 1 });
    const many = records({ rate: 2000 }, 7);
    const few = records({ rate: 300 }, 8);

    let started = performance.now();
    await batched.store.upsert(batched.collection, many);
    const batchedRate = many.length / ((performance.now() - started) / 1000);

    started = performance.now();
    await single.store.upsert(single.collection, few);
    const singleRate = few.length / ((performance.now() - started) / 1000);

    console.log(
      `Chroma upsert, ${DIMS} dims: batch 256 → ${batchedRate.toFixed(0)} records/s (${many.length} records); ` +
        `batch 1 → ${singleRate.toFixed(0)} records/s (${few.length} records); ` +
        `ratio ${(batchedRate / singleRate).toFixed(1)}×`,
    );
    expect(await batched.store.count(batched.collection)).toBe(2000);
    expect(await single.store.count(single.collection)).toBe(300);
  });
});
