import { access, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { INGEST_QUEUE, type IngestDocumentPayload, type JobStatus } from '@sluice/core';
import { WorkerRuntime, createLogger } from '@sluice/core/process';
import {
  DocumentLock,
  DocumentQueue,
  createRedisConnection,
  documentKeys,
  type IngestRequest,
} from '@sluice/core/queue';
import {
  ChromaStore,
  DocumentPlanner,
  HashEmbedder,
  IngestPipeline,
  ParsePool,
  auditCollection,
  type Embedder,
  type SplitOptions,
} from '@sluice/ingest';
import { DirectoryUploadStore } from '@sluice/storage';
import { startChroma } from '../../../test/support/chroma.js';
import { corpusPath, inlineText, stageFile } from '../../../test/support/documents.js';
import { GatedProxy, isChromaWrite } from '../../../test/support/gated-proxy.js';
import { uniqueName } from '../../../test/support/names.js';
import { waitFor } from '../../../test/support/ports.js';
import { registerDocumentHandlers, type DocumentHandlerHooks } from './document-handlers.js';
import { sweepUploads } from './upload-sweeper.js';

/*
 * The worker's guarantees, each hole hit on purpose: deterministic fault points (hooks that hold
 * a job at a chosen step, a proxy that holds a write in flight, a lock taken away) force the bad
 * interleaving instead of hoping a random run finds it. Every scenario ends with an audit that
 * compares Chroma with Sluice's record chunk by chunk and must report zero drift.
 */

const redisUrl = inject('redisUrl');
const chromaUrl = inject('chromaUrl');
const logger = createLogger({ name: 'test', level: 'silent' });
const parsePool = new ParsePool();
afterAll(() => parsePool.close());
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** The real hash embedder, recording what it embedded and optionally slowed down per batch. */
class RecordingEmbedder implements Embedder {
  readonly inner = new HashEmbedder();
  readonly id = this.inner.id;
  readonly dimensions = this.inner.dimensions;
  readonly embedded: string[] = [];
  /** The signal of each call: tells which attempt embedded what. */
  readonly signals: (AbortSignal | undefined)[] = [];
  constructor(private readonly delayMs = 0) {}
  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    signal?.throwIfAborted();
    this.embedded.push(...texts);
    this.signals.push(signal);
    return this.inner.embed(texts);
  }
}

/**
 * A point a job waits at until the test opens it; `reached` resolves when a job got there, with
 * its ID and (for hooks that pass one) the attempt's signal.
 */
function gate() {
  let open: () => void = () => undefined;
  let reach: (at: { jobId: string; signal?: AbortSignal }) => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const reached = new Promise<{ jobId: string; signal?: AbortSignal }>((resolve) => (reach = resolve));
  return {
    opened,
    reached,
    open,
    /** A hook that holds the given job (any job when none is given) until {@link open}. */
    hold: (only?: string) => async (jobId: string, signal?: AbortSignal) => {
      if (only !== undefined && jobId !== only) return;
      reach({ jobId, ...(signal ? { signal } : {}) });
      await opened;
    },
  };
}

const SPLIT: SplitOptions = { chunkSize: 1000, chunkOverlap: 200 };

interface WorkerOptions {
  batchSize?: number;
  drainTimeoutMs?: number;
  concurrency?: number;
  hooks?: DocumentHandlerHooks;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  split?: SplitOptions;
  /** Another Chroma (a proxy in front of it, a dedicated server). */
  chroma?: string;
  outageBackoffMs?: number;
}

function setup(chroma = chromaUrl) {
  const prefix = uniqueName('pipe');
  const collection = uniqueName('col');
  const connection = createRedisConnection({ url: redisUrl, role: 'worker' });
  const documents = new DocumentQueue({ connection, prefix });
  const store = new ChromaStore({ url: chroma, dimensions: 384 });
  let storageDir = '';
  cleanups.push(async () => {
    await documents.queue.obliterate({ force: true });
    const keys = await connection.keys(`${prefix}:*`);
    if (keys.length) await connection.del(...keys);
    await documents.close();
    await store.dropCollection(collection).catch(() => undefined);
    await rm(storageDir, { recursive: true, force: true });
    connection.disconnect();
  });
  const storage = async () => (storageDir ||= await mkdtemp(join(tmpdir(), 'sluice-storage-')));
  const plannerFor = async (embedder: Embedder, split = SPLIT) =>
    new DocumentPlanner({ embedder, parsePool, uploads: new DirectoryUploadStore(await storage()), split });
  const pipelineFor = async (embedder: Embedder, options: WorkerOptions = {}) =>
    new IngestPipeline({
      planner: await plannerFor(embedder, options.split),
      store: options.chroma ? new ChromaStore({ url: options.chroma, dimensions: 384 }) : store,
      embedder,
      batchSize: options.batchSize ?? 256,
    });

  const worker = async (embedder: Embedder, options: WorkerOptions = {}) => {
    const runtime = new WorkerRuntime({
      queue: INGEST_QUEUE,
      prefix,
      logger,
      connection: createRedisConnection({ url: redisUrl, role: 'worker' }),
      concurrency: options.concurrency ?? 2,
      drainTimeoutMs: options.drainTimeoutMs ?? 5000,
      ...(options.lockDurationMs ? { lockDurationMs: options.lockDurationMs } : {}),
      ...(options.stalledIntervalMs ? { stalledIntervalMs: options.stalledIntervalMs } : {}),
      ...(options.outageBackoffMs
        ? { outageBackoffMs: options.outageBackoffMs, outageBackoffMaxMs: options.outageBackoffMs * 4 }
        : {}),
    });
    const pipeline = await pipelineFor(embedder, options);
    await documents.publishPipeline(pipeline.fingerprint);
    registerDocumentHandlers(runtime, {
      pipeline,
      locks: new DocumentLock({ connection, prefix }),
      lockRetryMs: 100,
      ...(options.hooks ? { hooks: options.hooks } : {}),
    });
    await runtime.start();
    cleanups.push(() => runtime.drain());
    return runtime;
  };
  const finished = async (jobId: string, timeoutMs = 60_000): Promise<JobStatus> =>
    waitFor(
      async () => {
        const status = await documents.status(jobId);
        return status && (status.state === 'completed' || status.state === 'failed') ? status : undefined;
      },
      { timeoutMs, what: `job ${jobId} to finish` },
    );
  const stored = async () => {
    const handle = await store.collection(collection);
    const all = await handle.get({ include: ['metadatas'] });
    return new Map(all.ids.map((id, i) => [id, all.metadatas[i] ?? {}]));
  };
  const storedIds = async () => new Set((await stored()).keys());
  const expectedIds = async (request: IngestRequest, split = SPLIT) => {
    const plan = await (await plannerFor(new HashEmbedder(), split)).plan(request as IngestDocumentPayload);
    return new Set(plan.chunks.map((c) => c.id));
  };
  const audit = (repair = false) => auditCollection({ store, documents, collection, repair });
  /** Chroma holds exactly what Sluice recorded, chunk by chunk. */
  const expectConverged = async () => {
    const report = await audit();
    expect(report, JSON.stringify(report)).toMatchObject({ missing: 0, orphans: 0, stale: 0, duplicates: 0 });
    return report;
  };
  return {
    prefix,
    collection,
    connection,
    documents,
    store,
    storage,
    plannerFor,
    pipelineFor,
    worker,
    finished,
    stored,
    storedIds,
    expectedIds,
    audit,
    expectConverged,
  };
}

async function markdown(relative: string): Promise<string> {
  return readFile(corpusPath(`markdown/${relative}`), 'utf8');
}

const POD_LIFECYCLE = 'en/docs/concepts/workloads/pods/pod-lifecycle.md';

describe('ingestion', () => {
  it('re-ingests incrementally: unchanged embeds nothing, a changed paragraph only its chunks', async () => {
    const t = setup();
    const embedder = new RecordingEmbedder();
    await t.worker(embedder);
    const v1Text = await markdown(POD_LIFECYCLE);
    const v1 = inlineText(t.collection, 'pod-lifecycle.md', v1Text);
    const first = await t.documents.ingest(v1);
    const r1 = await t.finished(first.jobId);
    expect(r1.state).toBe('completed');
    const v1Ids = await t.expectedIds(v1);
    expect(r1.result).toMatchObject({ chunks: v1Ids.size, embedded: v1Ids.size, skipped: 0, deleted: 0 });
    expect(await t.storedIds()).toEqual(v1Ids);

    // The same version again: the existing job answers, nothing is embedded.
    const before = embedder.embedded.length;
    expect(await t.documents.ingest(v1)).toMatchObject({ jobId: first.jobId, deduplicated: true });
    // And a run of the pipeline over an unchanged, already indexed document embeds nothing.
    const direct = await (
      await t.pipelineFor(embedder)
    ).ingest(
      { ...v1, metadata: {} },
      {
        signal: new AbortController().signal,
        log: logger,
        progress: async () => undefined,
        isCurrent: async () => true,
      },
    );
    expect(direct.result).toMatchObject({ embedded: 0, skipped: v1Ids.size, updated: 0, deleted: 0 });
    expect(embedder.embedded.length).toBe(before);

    // One paragraph changed.
    const paragraph = v1Text
      .split('\n\n')
      .find((p) => p.length > 300 && !p.startsWith('#') && !p.includes('{{'))!;
    const v2 = inlineText(
      t.collection,
      'pod-lifecycle.md',
      v1Text.replace(paragraph, `${paragraph} This sentence is new.`),
    );
    const v2Ids = await t.expectedIds(v2);
    const added = [...v2Ids].filter((id) => !v1Ids.has(id));
    const removed = [...v1Ids].filter((id) => !v2Ids.has(id));
    expect(added.length).toBeGreaterThan(0);
    expect(added.length).toBeLessThan(v2Ids.size / 4);
    const second = await t.documents.ingest(v2);
    const r2 = await t.finished(second.jobId);
    expect(r2.result).toMatchObject({ embedded: added.length, deleted: removed.length });
    expect(r2.result!.skipped + r2.result!.updated).toBe(v2Ids.size - added.length);
    expect(embedder.embedded.length).toBe(before + added.length);
    expect(await t.storedIds()).toEqual(v2Ids);
    // The indexed version is v2, though most stored chunks were first written by v1.
    expect((await t.documents.indexed(t.collection, 'pod-lifecycle.md'))?.contentHash).toBe(v2.contentHash);
    // Kept chunks whose lines moved carry v2's metadata now, not v1's.
    for (const metadata of (await t.stored()).values()) expect(metadata.contentHash).toBe(v2.contentHash);
    await t.expectConverged();
  });

  it('a job preempted mid-document is resumed by another worker without redoing stored chunks', async () => {
    const t = setup();
    const request = await stageFile(await t.storage(), corpusPath('pdf/good/pdkids.pdf'), {
      collection: t.collection,
    });
    const expected = await t.expectedIds(request);
    expect(expected.size).toBeGreaterThan(100);
    const firstEmbedder = new RecordingEmbedder(40);
    const first = await t.worker(firstEmbedder, { batchSize: 20, drainTimeoutMs: 200 });
    const { jobId } = await t.documents.ingest(request);
    await waitFor(
      async () =>
        (((await t.documents.status(jobId))?.progress as { chunksWritten?: number }).chunksWritten ?? 0) >=
        40,
      { timeoutMs: 60_000, what: 'the first batches' },
    );
    expect(await first.drain()).toMatchObject({ preempted: 1 });
    expect(await t.documents.status(jobId)).toMatchObject({ state: 'waiting', attempts: 0 });
    const storedAtPreemption = await t.storedIds();
    expect(storedAtPreemption.size).toBeLessThan(expected.size);

    const secondEmbedder = new RecordingEmbedder();
    await t.worker(secondEmbedder, { batchSize: 20 });
    expect((await t.finished(jobId)).state).toBe('completed');
    expect(await t.storedIds()).toEqual(expected);
    // The resumed run embedded exactly what was missing.
    const plan = await (await t.plannerFor(secondEmbedder.inner)).plan(request as IngestDocumentPayload);
    const textsStored = new Set(plan.chunks.filter((c) => storedAtPreemption.has(c.id)).map((c) => c.text));
    expect(secondEmbedder.embedded.filter((text) => textsStored.has(text))).toEqual([]);
    expect(secondEmbedder.embedded.length).toBe(expected.size - storedAtPreemption.size);
    await t.expectConverged();
  });

  it('two versions raced on two workers end as the version submitted last', async () => {
    const t = setup();
    // Two workers, slow enough that both versions are in flight at once.
    await t.worker(new RecordingEmbedder(30), { batchSize: 20 });
    await t.worker(new RecordingEmbedder(30), { batchSize: 20 });
    const base = await markdown(POD_LIFECYCLE);
    const v1 = inlineText(t.collection, 'doc', base);
    const v2 = inlineText(t.collection, 'doc', base.replaceAll('Pod', 'Pod (v2)'));
    const a = await t.documents.ingest(v1);
    await waitFor(async () => (await t.documents.status(a.jobId))?.state === 'active', { what: 'v1 active' });
    const b = await t.documents.ingest(v2);
    const [ra, rb] = await Promise.all([t.finished(a.jobId), t.finished(b.jobId)]);
    expect(ra.state).toBe('completed');
    expect(rb.state).toBe('completed');
    expect(ra.result?.superseded).toBe(true);
    expect(await t.storedIds()).toEqual(await t.expectedIds(v2));

    // v1 submitted again last: a new job runs it again, and it wins.
    const c = await t.documents.ingest(v1);
    expect(c.deduplicated).toBe(false);
    expect(c.jobId).not.toBe(a.jobId);
    expect((await t.finished(c.jobId)).state).toBe('completed');
    expect(await t.storedIds()).toEqual(await t.expectedIds(v1));
    await t.expectConverged();
  });

  it('a delete job removes every chunk of the document, and only of that document', async () => {
    const t = setup();
    await t.worker(new RecordingEmbedder());
    const keep = inlineText(
      t.collection,
      'keep.md',
      await markdown('en/docs/concepts/overview/components.md'),
    );
    const gone = inlineText(t.collection, 'gone.md', await markdown(POD_LIFECYCLE));
    for (const r of [keep, gone]) await t.finished((await t.documents.ingest(r)).jobId);
    const { jobId } = await t.documents.remove({ collection: t.collection, docId: 'gone.md' });
    const result = await t.finished(jobId);
    expect(result.result?.deleted).toBe((await t.expectedIds(gone)).size);
    expect(await t.storedIds()).toEqual(await t.expectedIds(keep));
    const indexed = await t.documents.indexedRecords(t.collection);
    expect(indexed.has('gone.md')).toBe(false);
    expect(indexed.get('keep.md')?.contentHash).toBe(keep.contentHash);
    await t.expectConverged();
  });
});

describe('versions: content, metadata and pipeline fingerprint', () => {
  it('metadata-only re-submission updates every chunk in place and embeds nothing', async () => {
    const t = setup();
    const embedder = new RecordingEmbedder();
    await t.worker(embedder);
    const text = await markdown(POD_LIFECYCLE);
    const v1 = { ...inlineText(t.collection, 'doc.md', text), metadata: { access: 'staff' } };
    const first = await t.finished((await t.documents.ingest(v1)).jobId);
    const embeddedBefore = embedder.embedded.length;
    const v2 = { ...v1, metadata: { access: 'public', team: 'docs' } };
    const submitted = await t.documents.ingest(v2);
    expect(submitted.deduplicated).toBe(false);
    const second = await t.finished(submitted.jobId);
    expect(second.result).toMatchObject({
      chunks: first.result!.chunks,
      embedded: 0,
      updated: first.result!.chunks,
      deleted: 0,
    });
    expect(embedder.embedded.length).toBe(embeddedBefore);
    for (const metadata of (await t.stored()).values())
      expect(metadata).toMatchObject({ access: 'public', team: 'docs' });
    // A key the caller dropped is gone from every chunk too.
    const v3 = { ...v1, metadata: { access: 'public' } };
    await t.finished((await t.documents.ingest(v3)).jobId);
    for (const metadata of (await t.stored()).values()) expect(metadata.team).toBeUndefined();
    expect(embedder.embedded.length).toBe(embeddedBefore);
    await t.expectConverged();
  });

  it('a page inserted at the front of a PDF: every kept chunk cites its new page', async () => {
    const t = setup();
    await t.worker(new RecordingEmbedder());
    const storage = await t.storage();
    const original = await stageFile(storage, corpusPath('pdf/good/bitcoin.pdf'), {
      collection: t.collection,
      docId: 'bitcoin.pdf',
    });
    await t.finished((await t.documents.ingest(original)).jobId);
    const pagesBefore = new Map([...(await t.stored())].map(([id, m]) => [id, m.page as number]));
    const shifted = await stageFile(storage, corpusPath('pdf/made/bitcoin-with-cover.pdf'), {
      collection: t.collection,
      docId: 'bitcoin.pdf',
    });
    const result = await t.finished((await t.documents.ingest(shifted)).jobId);
    expect(result.result!.updated).toBeGreaterThan(0);
    const after = await t.stored();
    let moved = 0;
    for (const [id, page] of pagesBefore) {
      const now = after.get(id);
      if (!now) continue;
      expect(now.page, id).toBe(page + 1);
      moved += 1;
    }
    expect(moved).toBeGreaterThan(pagesBefore.size / 2);
    await t.expectConverged();
  });

  it('a CHUNK_SIZE change re-indexes unchanged documents and leaves no old chunk behind', async () => {
    const t = setup();
    const text = await markdown(POD_LIFECYCLE);
    const request = inlineText(t.collection, 'doc.md', text);
    const before = await t.worker(new RecordingEmbedder());
    await t.finished((await t.documents.ingest(request)).jobId);
    expect(await t.storedIds()).toEqual(await t.expectedIds(request));
    await before.drain();
    // The workers are replaced with another chunk size; the same bytes are submitted again.
    const split = { chunkSize: 600, chunkOverlap: 100 };
    await t.worker(new RecordingEmbedder(), { split });
    const again = await t.documents.ingest(request);
    expect(again.deduplicated).toBe(false);
    expect((await t.finished(again.jobId)).state).toBe('completed');
    expect(await t.storedIds()).toEqual(await t.expectedIds(request, split));
    await t.expectConverged();
  });

  it('an indexed version completes at once from Sluice’s own record, however long jobs are kept', async () => {
    const t = setup();
    const embedder = new RecordingEmbedder();
    await t.worker(embedder);
    const request = inlineText(t.collection, 'doc.md', await markdown(POD_LIFECYCLE));
    const first = await t.documents.ingest(request);
    const chunks = (await t.finished(first.jobId)).result!.chunks;
    await (await t.documents.queue.getJob(first.jobId))!.remove();
    const embedded = embedder.embedded.length;
    const again = await t.documents.ingest(request);
    expect(again).toMatchObject({ jobId: first.jobId, deduplicated: true });
    expect((await t.finished(again.jobId)).result).toMatchObject({ chunks, skipped: chunks, embedded: 0 });
    expect(embedder.embedded.length).toBe(embedded);
    await t.expectConverged();
  });
});

describe('last write wins under every interleaving', () => {
  it('A → B → A: A submitted again while its old job is standing down runs again and wins', async () => {
    const t = setup();
    const text = await markdown(POD_LIFECYCLE);
    const a = inlineText(t.collection, 'doc.md', text);
    const b = inlineText(t.collection, 'doc.md', text.replaceAll('Pod', 'Pod (B)'));
    const jobA = await t.documents.ingest(a);
    await t.documents.ingest(b);
    // A's job finds B is the latest and is about to complete as superseded: hold it right there.
    const standingDown = gate();
    await t.worker(new RecordingEmbedder(), {
      concurrency: 1,
      hooks: { superseded: standingDown.hold(jobA.jobId) },
    });
    expect((await standingDown.reached).jobId).toBe(jobA.jobId);
    const jobA2 = await t.documents.ingest(a);
    expect(jobA2.deduplicated).toBe(false);
    expect(jobA2.jobId).not.toBe(jobA.jobId);
    standingDown.open();
    expect((await t.finished(jobA.jobId)).result?.superseded).toBe(true);
    expect((await t.finished(jobA2.jobId)).result?.superseded).toBeUndefined();
    expect(await t.storedIds()).toEqual(await t.expectedIds(a));
    await t.expectConverged();
  });

  it('ingest → delete → ingest, the first ingest held mid-way: the last ingest is what stays', async () => {
    const t = setup();
    const text = await markdown(POD_LIFECYCLE);
    const v1 = inlineText(t.collection, 'doc.md', text);
    const v2 = inlineText(t.collection, 'doc.md', text.replaceAll('container', 'container (v2)'));
    const held = gate();
    await t.worker(new RecordingEmbedder(), { hooks: { acquired: held.hold() } });
    const first = await t.documents.ingest(v1);
    await held.reached;
    const removal = await t.documents.remove({ collection: t.collection, docId: 'doc.md' });
    const last = await t.documents.ingest(v2);
    held.open();
    await Promise.all([first.jobId, removal.jobId, last.jobId].map((id) => t.finished(id)));
    expect(await t.storedIds()).toEqual(await t.expectedIds(v2));
    expect((await t.documents.indexed(t.collection, 'doc.md'))?.contentHash).toBe(v2.contentHash);
    await t.expectConverged();
  });

  it('ingest → ingest → delete, the first ingest held mid-way: nothing stays', async () => {
    const t = setup();
    const text = await markdown(POD_LIFECYCLE);
    const held = gate();
    await t.worker(new RecordingEmbedder(), { hooks: { acquired: held.hold() } });
    const first = await t.documents.ingest(inlineText(t.collection, 'doc.md', text));
    await held.reached;
    const second = await t.documents.ingest(inlineText(t.collection, 'doc.md', `${text}\n\nMore.`));
    const removal = await t.documents.remove({ collection: t.collection, docId: 'doc.md' });
    held.open();
    await Promise.all([first.jobId, second.jobId, removal.jobId].map((id) => t.finished(id)));
    expect(await t.storedIds()).toEqual(new Set());
    expect(await t.documents.indexed(t.collection, 'doc.md')).toBeUndefined();
    await t.expectConverged();
  });

  it('a stalled twin: the attempt that lost its job lock is cancelled and never writes; the live one indexes', async () => {
    const t = setup();
    const request = inlineText(t.collection, 'doc.md', await markdown(POD_LIFECYCLE));
    const held = gate();
    const stale = new RecordingEmbedder();
    const timings = { lockDurationMs: 2000, stalledIntervalMs: 300 };
    await t.worker(stale, { ...timings, concurrency: 1, hooks: { acquired: held.hold() } });
    const { jobId } = await t.documents.ingest(request);
    const first = await held.reached;
    // The attempt stalls (its BullMQ lock is gone, as after a long event-loop block): the job goes
    // back to wait and a second worker takes it, while the first attempt still holds its document.
    await t.connection.del(`${t.prefix}:${INGEST_QUEUE}:${jobId}:lock`);
    const live = new RecordingEmbedder();
    await t.worker(live, timings);
    await waitFor(async () => (await t.documents.queue.getJob(jobId))?.stalledCounter === 1, {
      what: 'the stall to be noticed',
    });
    // The first attempt's lock renewal fails: it is cancelled (its signal aborts), while it still
    // holds the document, so the twin cannot take the document meanwhile.
    await new Promise((resolve) => first.signal!.addEventListener('abort', resolve, { once: true }));
    held.open();
    const status = await t.finished(jobId);
    expect(status.state).toBe('completed');
    // The cancelled attempt embedded and wrote nothing (a later attempt may run on either worker).
    expect(stale.signals.filter((signal) => signal === first.signal)).toEqual([]);
    expect(stale.embedded.length + live.embedded.length).toBe(status.result!.chunks);
    expect(await t.storedIds()).toEqual(await t.expectedIds(request));
    await t.expectConverged();
  });

  it('a write cut off by a preemption is cancelled before the document is released: it never lands after the next version', async () => {
    const proxy = await GatedProxy.start(chromaUrl);
    cleanups.push(() => proxy.close());
    const t = setup();
    const text = await markdown(POD_LIFECYCLE);
    const a = inlineText(t.collection, 'doc.md', text);
    const b = inlineText(t.collection, 'doc.md', text.replaceAll('Pod', 'Pod (B)'));
    // A's worker writes through a proxy that holds its upserts: a slow Chroma.
    proxy.holdWhen(isChromaWrite);
    const first = await t.worker(new RecordingEmbedder(), { chroma: proxy.url, drainTimeoutMs: 0 });
    const jobA = await t.documents.ingest(a);
    await proxy.held();
    const jobB = await t.documents.ingest(b);
    // The worker is drained now: A's write is under way when its job is preempted.
    expect(await first.drain()).toMatchObject({ preempted: 1 });
    await t.worker(new RecordingEmbedder());
    expect((await t.finished(jobB.jobId)).state).toBe('completed');
    expect((await t.finished(jobA.jobId)).result?.superseded).toBe(true);
    // The slow Chroma gets to A's write only now. It was cancelled with its job, so it is dropped.
    proxy.release();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(proxy.forwarded).toBe(0);
    expect(proxy.dropped).toBe(1);
    expect(await t.storedIds()).toEqual(await t.expectedIds(b));
    await t.expectConverged();
  });
});

describe('dependency outages', () => {
  it('a long Chroma outage spends no attempt and fails no job; the workers resume by themselves', async () => {
    const chroma = await startChroma({ dedicated: true });
    cleanups.push(() => chroma.stop());
    const t = setup(chroma.url);
    await t.worker(new RecordingEmbedder(), { chroma: chroma.url, outageBackoffMs: 250 });
    const texts = await Promise.all(
      ['components.md', 'working-with-objects/labels.md', 'working-with-objects/names.md'].map((p) =>
        markdown(`en/docs/concepts/overview/${p}`),
      ),
    );
    await chroma.kill!();
    const jobs = await Promise.all(
      texts.map(
        async (text, i) => (await t.documents.ingest(inlineText(t.collection, `doc-${i}.md`, text))).jobId,
      ),
    );
    // Well past what eight attempts with exponential backoff from 2 s used to survive (~4 min is
    // the old limit; 20 s already spent 3–4 attempts of each job).
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    for (const jobId of jobs) {
      expect(await t.documents.status(jobId)).toMatchObject({
        state: expect.stringMatching(/waiting|active|delayed/) as string,
        attempts: 0,
      });
    }
    await chroma.revive!();
    for (const jobId of jobs) {
      const status = await t.finished(jobId, 60_000);
      expect(status.state).toBe('completed');
      expect(status.attempts).toBeLessThanOrEqual(1);
    }
    await t.expectConverged();
  }, 120_000);
});

describe('audit', () => {
  it('finds drift injected straight into Chroma (deleted chunks, an orphan, altered metadata) and repairs it', async () => {
    const t = setup();
    await t.worker(new RecordingEmbedder());
    const docs = await Promise.all(
      [POD_LIFECYCLE, 'en/docs/concepts/overview/components.md'].map(async (path, i) =>
        inlineText(t.collection, `doc-${i}.md`, await markdown(path)),
      ),
    );
    for (const doc of docs) await t.finished((await t.documents.ingest(doc)).jobId);
    const clean = await t.expectConverged();
    expect(clean.documents).toBe(2);

    const handle = await t.store.collection(t.collection);
    const ids = [...(await t.storedIds())].sort();
    await handle.delete({ ids: ids.slice(0, 2) });
    await handle.update({ ids: [ids[5]!], metadatas: [{ page: 99 }] });
    const sample = await handle.get({ ids: [ids[6]!], include: ['embeddings', 'documents', 'metadatas'] });
    await handle.upsert({
      ids: ['stray-chunk', 'stray-copy'],
      embeddings: [sample.embeddings[0]!, sample.embeddings[0]!],
      documents: ['a chunk no document holds', sample.documents[0]!],
      metadatas: [{ docId: 'ghost.md' }, { ...sample.metadatas[0]!, chunkIndex: 999 }],
    });

    const found = await t.audit();
    expect(found).toMatchObject({ missing: 2, stale: 1, orphans: 1, duplicates: 1, repairJobs: [] });
    const repaired = await t.audit(true);
    expect(repaired.repairJobs.length).toBeGreaterThanOrEqual(2);
    for (const jobId of repaired.repairJobs) expect((await t.finished(jobId)).state).toBe('completed');
    const after = await t.expectConverged();
    expect(after.chunks).toBe(ids.length);
    expect(await t.storedIds()).toEqual(new Set(ids));
  });
});

describe('the sweep of unused uploads', () => {
  const DAY_MS = 24 * 3600 * 1000;
  const exists = (path: string) =>
    access(path).then(
      () => true,
      () => false,
    );

  it('removes only uploads nothing needs: not an indexed version, an unfinished job, a young or a protected upload', async () => {
    const t = setup();
    const dir = await t.storage();
    const file = (relative: string) => corpusPath(`markdown/${relative}`);
    const stage = (relative: string, docId: string) =>
      stageFile(dir, file(relative), { collection: t.collection, docId });
    const indexed = await stage(POD_LIFECYCLE, 'a.md');
    const superseded = await stage('en/docs/concepts/overview/components.md', 'x.md');
    const current = await stage('en/docs/concepts/workloads/controllers/job.md', 'x.md');
    const runtime = await t.worker(new HashEmbedder());
    for (const request of [indexed, superseded, current])
      expect((await t.finished((await t.documents.ingest(request)).jobId)).state).toBe('completed');
    await runtime.drain();
    // With no worker running, this job stays waiting: its upload is still to be read.
    const pending = await stage('en/docs/concepts/workloads/controllers/deployment.md', 'p.md');
    await t.documents.ingest(pending);
    const orphan = await stage(
      'en/docs/concepts/workloads/controllers/replicationcontroller.md',
      'orphan.md',
    );
    // Between protectUpload and commit in the API: not visible anywhere yet, but protected.
    const protectedUpload = await stage('en/docs/concepts/workloads/controllers/daemonset.md', 'q.md');
    await t.documents.protectUpload(protectedUpload.storageKey!);
    const old = new Date(Date.now() - 2 * DAY_MS);
    for (const request of [indexed, superseded, current, pending, orphan, protectedUpload])
      await utimes(join(dir, request.storageKey!), old, old);
    // Young and unused: an upload whose request may still be on its way.
    const young = await stage('en/docs/concepts/workloads/controllers/statefulset.md', 'y.md');

    const store = new DirectoryUploadStore(dir);
    const result = await sweepUploads({
      store,
      connection: t.connection,
      prefix: t.prefix,
      queue: t.documents.queue,
      minAgeMs: DAY_MS,
      logger,
    });
    expect(result).toEqual({ uploads: 7, kept: 5, removed: 2 });
    for (const gone of [superseded, orphan]) expect(await exists(join(dir, gone.storageKey!))).toBe(false);
    for (const kept of [indexed, current, pending, protectedUpload, young])
      expect(await exists(join(dir, kept.storageKey!))).toBe(true);
    // An audit's repair still finds the indexed versions' uploads.
    await t.expectConverged();
  });

  it('runs one sweep at a time across the workers', async () => {
    const t = setup();
    const store = new DirectoryUploadStore(await t.storage());
    await t.connection.set(documentKeys(t.prefix).sweepLock, 'another worker', 'PX', 60_000);
    const options = { store, connection: t.connection, prefix: t.prefix, queue: t.documents.queue, logger };
    expect(await sweepUploads(options)).toBeUndefined();
    await t.connection.del(documentKeys(t.prefix).sweepLock);
    expect(await sweepUploads(options)).toEqual({ uploads: 0, kept: 0, removed: 0 });
  });

  it('a writer that protects an upload the sweep is removing waits for the removal, then writes it again', async () => {
    const t = setup();
    const key = 'a'.repeat(64);
    const keys = documentKeys(t.prefix);
    // The sweep has claimed the upload and is removing it.
    await t.connection.set(keys.uploadSweeping(key), '1', 'PX', 60_000);
    let protectedAt = 0;
    const protecting = t.documents.protectUpload(key).then(() => (protectedAt = Date.now()));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(protectedAt).toBe(0);
    // The removal is done: now the writer protects it and commits (writes) it again.
    await t.connection.del(keys.uploadSweeping(key));
    await protecting;
    expect(await t.connection.exists(keys.uploadProtected(key))).toBe(1);
    // The writer wrote it again; a sweep from now on sees the protection and leaves it.
    const dir = await t.storage();
    await writeFile(join(dir, key), 'written again by the commit');
    const old = new Date(Date.now() - 2 * DAY_MS);
    await utimes(join(dir, key), old, old);
    const result = await sweepUploads({
      store: new DirectoryUploadStore(dir),
      connection: t.connection,
      prefix: t.prefix,
      queue: t.documents.queue,
      minAgeMs: DAY_MS,
      logger,
    });
    expect(result).toEqual({ uploads: 1, kept: 1, removed: 0 });
  });
});
