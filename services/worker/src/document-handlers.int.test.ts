import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { INGEST_QUEUE, type IngestDocumentPayload } from '@sluice/core';
import { DocumentLock, DocumentQueue, createRedisConnection, type IngestRequest } from '@sluice/core/queue';
import { WorkerRuntime, createLogger } from '@sluice/core/process';
import { corpusPath, inlineText, stageFile } from '../../../test/support/documents.js';
import { uniqueName } from '../../../test/support/names.js';
import { waitFor } from '../../../test/support/ports.js';
import {
  ChromaStore,
  DocumentPlanner,
  HashEmbedder,
  IngestPipeline,
  PdfParsePool,
  type Embedder,
} from '@sluice/ingest';
import { registerDocumentHandlers } from './document-handlers.js';

const redisUrl = inject('redisUrl');
const chromaUrl = inject('chromaUrl');
const logger = createLogger({ name: 'test', level: 'silent' });
const pdfPool = new PdfParsePool();
afterAll(() => pdfPool.close());
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
  constructor(private readonly delayMs = 0) {}
  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    signal?.throwIfAborted();
    this.embedded.push(...texts);
    return this.inner.embed(texts);
  }
}

function setup() {
  const prefix = uniqueName('pipe');
  const collection = uniqueName('col');
  const connection = createRedisConnection({ url: redisUrl, role: 'worker' });
  const documents = new DocumentQueue({ connection, prefix });
  const store = new ChromaStore({ url: chromaUrl, dimensions: 384 });
  let storageDir = '';
  cleanups.push(async () => {
    await documents.queue.obliterate({ force: true });
    await documents.close();
    await store.dropCollection(collection);
    await rm(storageDir, { recursive: true, force: true });
    connection.disconnect();
  });
  const storage = async () => (storageDir ||= await mkdtemp(join(tmpdir(), 'sluice-storage-')));
  const plannerFor = async (embedder: Embedder) =>
    new DocumentPlanner({
      embedder,
      pdfPool,
      storageDir: await storage(),
      split: { chunkSize: 1000, chunkOverlap: 200 },
    });
  const pipelineFor = async (embedder: Embedder, batchSize = 256) =>
    new IngestPipeline({ planner: await plannerFor(embedder), store, embedder, batchSize });

  const worker = async (
    embedder: Embedder,
    options: { batchSize?: number; drainTimeoutMs?: number } = {},
  ) => {
    const runtime = new WorkerRuntime({
      queue: INGEST_QUEUE,
      prefix,
      logger,
      connection: createRedisConnection({ url: redisUrl, role: 'worker' }),
      concurrency: 2,
      drainTimeoutMs: options.drainTimeoutMs ?? 5000,
    });
    registerDocumentHandlers(runtime, {
      pipeline: await pipelineFor(embedder, options.batchSize),
      documents,
      locks: new DocumentLock({ connection, prefix }),
      lockRetryMs: 100,
    });
    await runtime.start();
    cleanups.push(() => runtime.drain());
    return runtime;
  };
  const finished = async (jobId: string, timeoutMs = 60_000) => {
    const job = await waitFor(
      async () => {
        const status = await documents.status(jobId);
        return status && (status.state === 'completed' || status.state === 'failed') ? status : undefined;
      },
      { timeoutMs, what: `job ${jobId} to finish` },
    );
    return job;
  };
  const storedIds = async () => {
    const handle = await store.collection(collection);
    const all = await handle.get({ include: [] });
    return new Set(all.ids);
  };
  const expectedIds = async (request: IngestRequest) => {
    const plan = await (await plannerFor(new HashEmbedder())).plan(request as IngestDocumentPayload);
    return new Set(plan.chunks.map((c) => c.id));
  };
  return {
    prefix,
    collection,
    documents,
    store,
    storage,
    plannerFor,
    pipelineFor,
    worker,
    finished,
    storedIds,
    expectedIds,
  };
}

async function markdown(relative: string): Promise<string> {
  return readFile(corpusPath(`markdown/${relative}`), 'utf8');
}

describe('ingestion', () => {
  it('re-ingests incrementally: unchanged embeds nothing, a changed paragraph only its chunks', async () => {
    const t = setup();
    const embedder = new RecordingEmbedder();
    await t.worker(embedder);
    const v1Text = await markdown('en/docs/concepts/workloads/pods/pod-lifecycle.md');
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
    expect(direct).toMatchObject({ embedded: 0, skipped: v1Ids.size, deleted: 0 });
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
    expect(r2.result).toMatchObject({
      embedded: added.length,
      deleted: removed.length,
      skipped: v2Ids.size - added.length,
    });
    expect(embedder.embedded.length).toBe(before + added.length);
    expect(await t.storedIds()).toEqual(v2Ids);
    // The indexed version is v2, though most stored chunks were first written by v1.
    expect((await t.documents.indexedVersions(t.collection)).get('pod-lifecycle.md')).toBe(v2.contentHash);
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
        ((await t.documents.status(jobId))?.progress as { chunksWritten?: number }).chunksWritten! >= 40,
      {
        timeoutMs: 60_000,
        what: 'the first batches',
      },
    );
    expect(await first.drain()).toMatchObject({ preempted: 1 });
    const status = await t.documents.status(jobId);
    expect(status).toMatchObject({ state: 'waiting', attempts: 0 });
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
  });

  it('two versions raced on two workers end as the version submitted last', async () => {
    const t = setup();
    // Two workers, slow enough that both versions are in flight at once.
    await t.worker(new RecordingEmbedder(30), { batchSize: 20 });
    await t.worker(new RecordingEmbedder(30), { batchSize: 20 });
    const base = await markdown('en/docs/concepts/workloads/pods/pod-lifecycle.md');
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

    // v1 submitted again last: it runs again and wins.
    const c = await t.documents.ingest(v1);
    expect(c).toMatchObject({ jobId: a.jobId, deduplicated: false });
    expect((await t.finished(c.jobId)).state).toBe('completed');
    expect(await t.storedIds()).toEqual(await t.expectedIds(v1));
  });

  it('a delete job removes every chunk of the document, and only of that document', async () => {
    const t = setup();
    await t.worker(new RecordingEmbedder());
    const keep = inlineText(
      t.collection,
      'keep.md',
      await markdown('en/docs/concepts/overview/components.md'),
    );
    const gone = inlineText(
      t.collection,
      'gone.md',
      await markdown('en/docs/concepts/workloads/pods/pod-lifecycle.md'),
    );
    for (const r of [keep, gone]) await t.finished((await t.documents.ingest(r)).jobId);
    const { jobId } = await t.documents.remove({ collection: t.collection, docId: 'gone.md' });
    const result = await t.finished(jobId);
    expect(result.result?.deleted).toBe((await t.expectedIds(gone)).size);
    expect(await t.storedIds()).toEqual(await t.expectedIds(keep));
    const indexed = await t.documents.indexedVersions(t.collection);
    expect(indexed.has('gone.md')).toBe(false);
    expect(indexed.get('keep.md')).toBe(keep.contentHash);
  });
});
