/**
 * Where Sluice's ingest time goes (`pnpm bench profile`):
 *
 * 1. each pipeline stage alone, on one thread, over the corpus: read, content hash, parse, split,
 *    chunk IDs, embed;
 * 2. Chroma writes alone: one upsert per document (what a job does) vs batches of 250 (the
 *    ceiling), one writer and four;
 * 3. the real worker runtime and document handlers in this process, with the pipeline's Chroma
 *    store, embedder and plan step timed and the worker's Redis commands counted, at concurrency
 *    1 and 4 (the default);
 * 4. optionally (`cpuProfile`), a real worker process under `node --cpu-prof`, its CPU time by
 *    module.
 */
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  INGEST_QUEUE,
  contentHash,
  pipelineFingerprint,
  type DocumentJobResult,
  type IngestDocumentPayload,
} from '@sluice/core';
import { DocumentLock, DocumentQueue, createRedisConnection } from '@sluice/core/queue';
import { WorkerRuntime, createLogger } from '@sluice/core/process';
import {
  ChromaStore,
  DocumentPlanner,
  IngestPipeline,
  chunkId,
  loadPdf,
  loadText,
  ordinalsAmongEqual,
  splitDocument,
  splitterSettings,
  type ChunkRecord,
  type ChunkStore,
  type StoredChunk,
  type DocumentPlan,
  type Embedder,
  type Planner,
} from '@sluice/ingest';
import { DirectoryUploadStore } from '@sluice/storage';
import { registerDocumentHandlers } from '@sluice/worker';
import type { Collection } from 'chromadb';
import type { Redis } from 'ioredis';
import { stageFile } from '../test/support/documents.js';
import { uniqueName } from '../test/support/names.js';
import { startStack } from '../test/support/stack.js';
import { startBenchServices } from './bench-services.js';
import { chromaClient, dropCollection } from './chroma-audit.js';
import {
  SPLIT,
  benchEmbedder,
  benchParsePool,
  closeBenchParsePool,
  listCorpus,
  planCorpus,
  type BenchDocument,
  type CorpusOptions,
} from './corpus.js';
import { INGEST_PRESETS } from './ingest.js';
import { CpuMeter, findProcess } from './process-stats.js';
import { runSluicePhase, sluiceClient, startWorkers, waitForJob } from './sluice-contender.js';
import { formatTable, loadAverage, machine, summarize, writeResult, type Summary } from './stats.js';

/** Options for {@link runProfile}. */
export interface ProfileOptions {
  /** A tiny corpus (smoke run). */
  quick: boolean;
  /** Write the JSON under bench/results/. */
  write: boolean;
  log: (line: string) => void;
  /** Override the corpus. */
  corpus?: CorpusOptions;
  /**
   * The in-process worker runs: job concurrency and whether the Chroma store coalesces writes
   * (the "before" and "after" of the write change).
   * @defaultValue concurrency 1 and 4 without coalescing, 4 and 16 with
   */
  variants?: WorkerVariant[];
  /** Repetitions of the variant runs, alternating. @defaultValue 2, 1 when quick */
  rounds?: number;
  /** Profile a real worker process with `--cpu-prof`. @defaultValue true unless quick */
  cpuProfile?: boolean;
  redisUrl?: string;
  chromaUrl?: string;
}

/** One in-process worker configuration. */
export interface WorkerVariant {
  concurrency: number;
  /** Group commit of upserts in Sluice's ChromaStore. */
  coalesceWrites: boolean;
  /** Batched stored-ID lookups in Sluice's ChromaStore. */
  coalesceReads: boolean;
}

/** Milliseconds spent per stage and how often it ran. */
export type StageTimes = Record<string, { ms: number; calls: number }>;

class Stopwatch {
  readonly times: StageTimes = {};
  async time<T>(stage: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.add(stage, performance.now() - started);
    }
  }
  add(stage: string, ms: number): void {
    const entry = (this.times[stage] ??= { ms: 0, calls: 0 });
    entry.ms += ms;
    entry.calls++;
  }
}

/** Stage under which the upsert requests that reach Chroma are counted (its `ms` holds records). */
const REQUESTS = 'chroma upsert requests';
/** Stage under which the `get` requests that reach Chroma are counted. */
const READS = 'chroma get requests';

/**
 * The pipeline's Chroma store with each call timed, and the upsert and `get` requests that reach
 * Chroma counted (by wrapping each collection handle the store opens).
 */
class TimedStore implements ChunkStore {
  readonly #wrapped = new WeakSet<Collection>();

  constructor(
    readonly inner: ChromaStore,
    readonly watch: Stopwatch,
  ) {}

  upsert(collection: string, records: readonly ChunkRecord[], signal?: AbortSignal): Promise<void> {
    return this.watch.time('chroma upsert', async () => {
      await this.#count(collection);
      await this.inner.upsert(collection, records, signal);
    });
  }

  storedChunks(collection: string, docId: string, signal?: AbortSignal): Promise<Map<string, StoredChunk>> {
    return this.watch.time('chroma read stored chunks', async () => {
      await this.#count(collection);
      return this.inner.storedChunks(collection, docId, signal);
    });
  }

  updateMetadata(
    collection: string,
    records: Parameters<ChunkStore['updateMetadata']>[1],
    signal?: AbortSignal,
  ): Promise<void> {
    return this.watch.time('chroma update metadata', () =>
      this.inner.updateMetadata(collection, records, signal),
    );
  }

  deleteIds(collection: string, ids: Iterable<string>, signal?: AbortSignal): Promise<void> {
    return this.watch.time('chroma delete', () => this.inner.deleteIds(collection, ids, signal));
  }

  deleteDocument(collection: string, docId: string, signal?: AbortSignal): Promise<number> {
    return this.watch.time('chroma delete', () => this.inner.deleteDocument(collection, docId, signal));
  }

  /** Wraps the collection's cached handle (created now if need be) to count its requests. */
  async #count(name: string): Promise<void> {
    const handle = await this.inner.collection(name);
    if (this.#wrapped.has(handle)) return;
    this.#wrapped.add(handle);
    const upsert = handle.upsert.bind(handle);
    const get = handle.get.bind(handle);
    handle.get = (args) => {
      this.watch.add(READS, 0);
      return get(args);
    };
    handle.upsert = (args) => {
      this.watch.add(REQUESTS, 0);
      this.watch.times[REQUESTS]!.ms += args.ids.length;
      return upsert(args);
    };
  }
}

/** An embedder whose calls are timed. */
class TimedEmbedder implements Embedder {
  readonly id: string;
  readonly dimensions: number;
  constructor(
    readonly inner: Embedder,
    readonly watch: Stopwatch,
  ) {
    this.id = inner.id;
    this.dimensions = inner.dimensions;
  }
  embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    return this.watch.time('embed', () => this.inner.embed(texts, signal));
  }
}

/** A planner whose plans are timed, by document type. */
class TimedPlanner implements Planner {
  readonly fingerprint: string;
  readonly embedderId: string;

  constructor(
    readonly inner: Planner,
    readonly watch: Stopwatch,
  ) {
    this.fingerprint = inner.fingerprint;
    this.embedderId = inner.embedderId;
  }

  plan(
    payload: IngestDocumentPayload,
    signal?: AbortSignal,
    onPage?: (page: number, pages: number) => void,
  ): Promise<DocumentPlan> {
    return this.watch.time(
      `plan (read, parse, split, IDs): ${payload.source.endsWith('.pdf') ? 'pdf' : 'markdown'}`,
      () => this.inner.plan(payload, signal, onPage),
    );
  }
}

/** Counts the Redis commands sent on a connection, by name, and their round-trip time. */
function countRedisCommands(connection: Redis): Record<string, { calls: number; ms: number }> {
  const counts: Record<string, { calls: number; ms: number }> = {};
  type Command = { name: string; promise: Promise<unknown> };
  const target = connection as unknown as { sendCommand: (command: Command, stream?: unknown) => unknown };
  const send = target.sendCommand.bind(connection);
  target.sendCommand = (command, stream) => {
    const started = performance.now();
    const entry = (counts[command.name] ??= { calls: 0, ms: 0 });
    entry.calls++;
    command.promise.then(
      () => (entry.ms += performance.now() - started),
      () => (entry.ms += performance.now() - started),
    );
    return send(command, stream);
  };
  return counts;
}

/** Stage costs on one thread, no Chroma and no Redis. */
async function stageCosts(docs: readonly BenchDocument[]): Promise<{ chunks: number; stages: StageTimes }> {
  const watch = new Stopwatch();
  const embedder = benchEmbedder();
  const fingerprint = pipelineFingerprint({ ...splitterSettings(SPLIT), embedder: embedder.id });
  let chunks = 0;
  for (const doc of docs) {
    const bytes = await watch.time('read file', () => readFile(doc.path));
    await watch.time('content hash (sha256)', async () => contentHash(bytes));
    const loaded = await watch.time(`parse ${doc.type}`, async () =>
      doc.type === 'pdf' ? loadPdf(benchParsePool, bytes) : loadText(bytes, 'markdown'),
    );
    const split = await watch.time(`split ${doc.type}`, () => splitDocument(loaded, SPLIT));
    await watch.time('chunk IDs', async () => {
      const ordinals = ordinalsAmongEqual(split.map((c) => c.text));
      split.forEach((c, i) =>
        chunkId({
          collection: 'profile',
          docId: doc.docId,
          fingerprint,
          text: c.text,
          ordinal: ordinals[i]!,
        }),
      );
    });
    await watch.time('embed', () => embedder.embed(split.map((c) => c.text)));
    chunks += split.length;
  }
  return { chunks, stages: watch.times };
}

/** Records/s of Chroma writes in a few shapes, through Sluice's ChromaStore. */
async function chromaWrites(
  chromaUrl: string,
  perDocument: ChunkRecord[][],
): Promise<Record<string, { records: number; seconds: number; recordsPerSecond: number }>> {
  const client = chromaClient(chromaUrl);
  const all = perDocument.flat();
  const out: Record<string, { records: number; seconds: number; recordsPerSecond: number }> = {};
  const measure = async (name: string, write: (store: ChromaStore, collection: string) => Promise<void>) => {
    const store = new ChromaStore({ url: chromaUrl, dimensions: 384 });
    const collection = uniqueName('profile-writes');
    await store.collection(collection);
    const started = performance.now();
    await write(store, collection);
    const seconds = (performance.now() - started) / 1000;
    out[name] = { records: all.length, seconds, recordsPerSecond: all.length / seconds };
    await dropCollection(client, collection);
  };
  await measure('batches of 250, 1 writer', async (store, c) => {
    for (let i = 0; i < all.length; i += 250) await store.upsert(c, all.slice(i, i + 250));
  });
  await measure('one upsert per document, 1 writer', async (store, c) => {
    for (const records of perDocument) await store.upsert(c, records);
  });
  await measure('one upsert per document, 4 writers', async (store, c) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < perDocument.length) await store.upsert(c, perDocument[next++]!);
      }),
    );
  });
  await measure('one upsert per document + read of stored IDs, 1 writer', async (store, c) => {
    for (const records of perDocument) {
      await store.storedChunks(c, records[0]!.metadata.docId);
      await store.upsert(c, records);
    }
  });
  return out;
}

/** One in-process worker run with every stage timed. */
export interface WorkerProfile extends WorkerVariant {
  documents: number;
  chunks: number;
  seconds: number;
  chunksPerSecond: number;
  /** Summed over jobs (they overlap when concurrency > 1). */
  stages: StageTimes;
  /** Summed job time (BullMQ processedOn → finishedOn). */
  jobMs: number;
  redisCommandsPerDocument: number;
  redisCommands: Record<string, { calls: number; ms: number }>;
  cpuSeconds: Record<string, number>;
}

async function workerRun(
  redisUrl: string,
  chromaUrl: string,
  docs: readonly BenchDocument[],
  { concurrency, coalesceWrites, coalesceReads }: WorkerVariant,
  pids: Record<string, number | undefined>,
): Promise<WorkerProfile> {
  // The run's world (prefix, storage dir), emptied when it ends; the worker runs in this process.
  await using stack = await startStack({ label: 'profile', redis: redisUrl, chroma: chromaUrl });
  const { prefix, storageDir } = stack;
  const collection = uniqueName('profile');
  const watch = new Stopwatch();
  const logger = createLogger({ name: 'profile', level: 'info', destination: '/dev/null' });
  const connection = createRedisConnection({ url: redisUrl, role: 'worker' }) as Redis;
  const redisCommands = countRedisCommands(connection);
  const store = new TimedStore(
    new ChromaStore({ url: chromaUrl, dimensions: 384, coalesceWrites, coalesceReads }),
    watch,
  );
  const embedder = new TimedEmbedder(benchEmbedder(), watch);
  const planner = new TimedPlanner(
    new DocumentPlanner({
      embedder,
      parsePool: benchParsePool,
      uploads: new DirectoryUploadStore(storageDir),
      split: SPLIT,
    }),
    watch,
  );
  const pipeline = new IngestPipeline({ planner, store, embedder });
  const runtime = new WorkerRuntime({ queue: INGEST_QUEUE, prefix, connection, logger, concurrency });
  registerDocumentHandlers(runtime, { pipeline, locks: new DocumentLock({ connection, prefix }) });
  // Enqueue everything first (the SDK's cost is measured by the ingest benchmark), then time the
  // worker alone from start to the last job's end.
  const producer = createRedisConnection({ url: redisUrl, role: 'producer' });
  const queue = new DocumentQueue({ connection: producer, prefix });
  const jobIds: string[] = [];
  for (const doc of docs) {
    jobIds.push(
      (await queue.ingest(await stageFile(storageDir, doc.path, { collection, docId: doc.docId }))).jobId,
    );
  }
  const sdk = sluiceClient(stack);
  const cpu = new CpuMeter(pids);
  await cpu.start();
  const started = performance.now();
  await runtime.start();
  const results: DocumentJobResult[] = await Promise.all(jobIds.map((id) => waitForJob(sdk, id, 600_000)));
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = await cpu.stop();
  const jobs = await queue.queue.getJobs(['completed'], 0, -1);
  const jobMs = jobs.reduce((n, j) => n + ((j.finishedOn ?? 0) - (j.processedOn ?? 0)), 0);
  await sdk.close();
  await runtime.drain();
  await queue.close();
  producer.disconnect();
  await dropCollection(chromaClient(chromaUrl), collection);
  const chunks = results.reduce((n, r) => n + r.chunks, 0);
  const calls = Object.values(redisCommands).reduce((n, c) => n + c.calls, 0);
  return {
    concurrency,
    coalesceWrites,
    coalesceReads,
    documents: docs.length,
    chunks,
    seconds,
    chunksPerSecond: chunks / seconds,
    stages: watch.times,
    jobMs,
    redisCommandsPerDocument: calls / docs.length,
    redisCommands,
    cpuSeconds,
  };
}

/** A `.cpuprofile` as Node writes it. */
interface CpuProfile {
  nodes: { id: number; callFrame: { url: string; functionName: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

function category(url: string, fn: string): string | undefined {
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'garbage collector';
  if (fn === '(program)') return 'V8/native (program)';
  if (url === '') return undefined;
  if (/pdfjs|pdf-parse/.test(url)) return 'pdf.js (parse)';
  if (/textsplitters/.test(url)) return 'splitter (@langchain/textsplitters)';
  if (/hash-embedder/.test(url)) return 'embedder (hash)';
  if (/chromadb/.test(url)) return 'chromadb client (JSON, base64 of vectors, fetch)';
  if (/bullmq|ioredis|msgpackr|redis-parser|cluster-key-slot/.test(url)) return 'BullMQ + ioredis';
  if (/pino|sonic-boom|thread-stream/.test(url)) return 'logging (pino)';
  if (/zod/.test(url)) return 'zod';
  if (/packages\/(core|ingest)\//.test(url)) return 'Sluice code';
  if (/undici|^node:internal\/deps\/undici/.test(url)) return 'HTTP (undici)';
  if (/^node:internal\/modules/.test(url)) return 'module loading (start-up)';
  if (/^node:/.test(url)) return 'Node core (streams, fs, net, crypto)';
  return 'other';
}

/**
 * CPU time of a `.cpuprofile` by module. A built-in function (JSON, base64, typed arrays: no URL)
 * counts for the module that called it, so that the client that serialises a request owns its
 * serialisation.
 */
function summarizeCpuProfile(profile: CpuProfile): Record<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const owner = new Map<number, string>();
  const ownerOf = (id: number): string => {
    const known = owner.get(id);
    if (known) return known;
    let at: number | undefined = id;
    let found: string | undefined;
    while (at !== undefined && found === undefined) {
      const frame = byId.get(at)?.callFrame;
      found = frame ? category(frame.url, frame.functionName) : undefined;
      at = parent.get(at);
    }
    const result = found ?? 'V8/native (program)';
    owner.set(id, result);
    return result;
  };
  const out: Record<string, number> = {};
  profile.samples.forEach((id, i) => {
    const name = ownerOf(id);
    out[name] = (out[name] ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000;
  });
  return out;
}

async function cpuProfileRun(
  redisUrl: string,
  chromaUrl: string,
  docs: readonly BenchDocument[],
  dir: string,
): Promise<{ seconds: number; threads: Record<string, number>[] }> {
  await using stack = await startStack({ label: 'cpuprof', redis: redisUrl, chroma: chromaUrl });
  const profileDir = join(dir, `${stack.name}-profiles`);
  const workers = await startWorkers(stack, {
    count: 1,
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profileDir],
  });
  const sdk = sluiceClient(stack);
  const collection = uniqueName('cpuprof');
  let phase;
  try {
    phase = await runSluicePhase(sdk, 'first', collection, docs);
  } finally {
    await sdk.close();
    await workers.stop();
  }
  await dropCollection(chromaClient(chromaUrl), collection);
  const threads: Record<string, number>[] = [];
  for (const file of await readdir(profileDir)) {
    const summary = summarizeCpuProfile(
      JSON.parse(await readFile(join(profileDir, file), 'utf8')) as CpuProfile,
    );
    threads.push(Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, Math.round(v)])));
  }
  return { seconds: phase.seconds, threads };
}

/** Runs the profile, prints it and (with `write`) writes its JSON under bench/results/. */
export async function runProfile(options: ProfileOptions): Promise<Record<string, unknown>> {
  const { log } = options;
  // Every eighth Markdown page and four PDFs of 9 to 55 pages: about 2,700 chunks.
  const corpusOptions: CorpusOptions =
    options.corpus ??
    (options.quick
      ? { markdownStride: 50, markdownLimit: 20, pdfs: 2 }
      : {
          markdownStride: 8,
          pdfs: ['bitcoin.pdf', 'tracemonkey.pdf', 'pdkids.pdf', 'federal-register-2020-17221.pdf'],
        });
  const loadStart = await loadAverage();
  const dir = await mkdtemp(join(tmpdir(), 'sluice-profile-'));
  const services = await startBenchServices(options);
  const { redisUrl, chromaUrl } = services;
  const pids = {
    chroma: await findProcess('cli.mjs', '--port', new URL(chromaUrl).port),
    redis: await findProcess('redis-server', `:${new URL(redisUrl).port}`),
  };
  try {
    const planned = await planCorpus(await listCorpus(corpusOptions), join(dir, 'plan'));
    const docs = planned.docs;
    log(`profile corpus: ${docs.length} documents, ${planned.totalChunks} chunks`);

    // Stage costs over the ingest benchmark's corpus, whose PDFs weigh more than this one's.
    log('1. stage costs, one thread, on the ingest benchmark corpus…');
    const stages = await stageCosts(
      options.quick
        ? docs
        : (await planCorpus(await listCorpus(INGEST_PRESETS.full.corpus), join(dir, 'plan-all'))).docs,
    );

    log('2. Chroma writes alone…');
    const embedder = benchEmbedder();
    const perDocument: ChunkRecord[][] = [];
    for (const doc of docs) {
      const chunks = planned.chunks.get(doc.docId)!;
      const vectors = await embedder.embed(chunks.map((c) => c.text));
      perDocument.push(
        chunks.map((c, i) => ({ id: c.id, embedding: vectors[i]!, document: c.text, metadata: c.metadata })),
      );
    }
    const writes = await chromaWrites(chromaUrl, perDocument);

    log('3. in-process worker, stages timed…');
    const variants = options.variants ?? [
      { concurrency: 4, coalesceWrites: false, coalesceReads: false },
      { concurrency: 4, coalesceWrites: true, coalesceReads: true },
      { concurrency: 16, coalesceWrites: false, coalesceReads: false },
      { concurrency: 16, coalesceWrites: true, coalesceReads: false },
      { concurrency: 16, coalesceWrites: true, coalesceReads: true },
    ];
    const key = (v: WorkerVariant) =>
      `concurrency ${v.concurrency}, coalesceWrites ${v.coalesceWrites}, coalesceReads ${v.coalesceReads}`;
    const workerRuns: WorkerProfile[] = [];
    const rounds = options.rounds ?? (options.quick ? 1 : 2);
    for (let round = 0; round < rounds; round++) {
      for (const variant of round % 2 ? [...variants].reverse() : variants) {
        const run = await workerRun(redisUrl, chromaUrl, docs, variant, pids);
        log(`  ${key(variant)}: ${run.chunksPerSecond.toFixed(0)} chunks/s`);
        workerRuns.push(run);
      }
    }
    const byVariant = Object.fromEntries(
      variants.map((v) => [
        key(v),
        summarize(
          workerRuns
            .filter(
              (r) =>
                r.concurrency === v.concurrency &&
                r.coalesceWrites === v.coalesceWrites &&
                r.coalesceReads === v.coalesceReads,
            )
            .map((r) => r.chunksPerSecond),
        ),
      ]),
    );

    let cpuProfile: Awaited<ReturnType<typeof cpuProfileRun>> | undefined;
    if (options.cpuProfile ?? !options.quick) {
      log('4. worker process under --cpu-prof…');
      cpuProfile = await cpuProfileRun(redisUrl, chromaUrl, docs, dir);
    }

    const result = {
      benchmark: 'ingest-profile',
      machine: await machine(),
      loadAverage: { start: loadStart, end: await loadAverage() },
      corpus: { options: corpusOptions, documents: docs.length, chunks: planned.totalChunks },
      stageCosts: stages,
      chromaWrites: writes,
      workerRuns,
      chunksPerSecondByVariant: byVariant,
      cpuProfile,
    };
    log(renderProfile(result));
    if (options.write) log(`  written to ${await writeResult('profile', result)}`);
    return result;
  } finally {
    await closeBenchParsePool();
    await services.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function renderProfile(r: {
  corpus: { documents: number; chunks: number };
  stageCosts: { chunks: number; stages: StageTimes };
  chromaWrites: Record<string, { records: number; seconds: number; recordsPerSecond: number }>;
  workerRuns: WorkerProfile[];
  chunksPerSecondByVariant: Record<string, Summary>;
  cpuProfile: { seconds: number; threads: Record<string, number>[] } | undefined;
}): string {
  const ms = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
  const out: string[] = [`profile: ${r.corpus.documents} documents, ${r.corpus.chunks} chunks`];
  const stageRows = Object.entries(r.stageCosts.stages).map(([stage, t]) => [
    stage,
    ms(t.ms),
    ms((t.ms / r.stageCosts.chunks) * 1000),
    ms(r.stageCosts.chunks / (t.ms / 1000)),
  ]);
  out.push(
    '',
    '1. each stage alone, one thread',
    formatTable(['stage', 'ms', 'ms per 1000 chunks', 'chunks/s if alone'], stageRows),
  );
  out.push(
    '',
    '2. Chroma writes alone (Sluice ChromaStore)',
    formatTable(
      ['shape', 'records', 's', 'records/s'],
      Object.entries(r.chromaWrites).map(([k, v]) => [
        k,
        String(v.records),
        v.seconds.toFixed(2),
        ms(v.recordsPerSecond),
      ]),
    ),
  );
  const seen = new Set<string>();
  for (const w of r.workerRuns) {
    // One stage table per variant (its first run); the medians of all runs follow below.
    const variant = `${w.concurrency}/${w.coalesceWrites}/${w.coalesceReads}`;
    if (seen.has(variant)) continue;
    seen.add(variant);
    const rows = Object.entries(w.stages).map(([stage, t]) =>
      stage === REQUESTS
        ? [
            'Chroma upsert requests sent',
            `${t.ms} records`,
            String(t.calls),
            `${(t.ms / t.calls).toFixed(1)} records/request`,
          ]
        : stage === READS
          ? ['Chroma get requests sent', '', String(t.calls), '']
          : [stage, ms(t.ms), String(t.calls), `${((t.ms / w.jobMs) * 100).toFixed(0)} %`],
    );
    rows.push(['(job total, BullMQ processedOn → finishedOn)', ms(w.jobMs), String(w.documents), '100 %']);
    const redisMs = Object.values(w.redisCommands).reduce((n, c) => n + c.ms, 0);
    rows.push([
      `Redis commands on the worker connection (${w.redisCommandsPerDocument.toFixed(1)} per document)`,
      ms(redisMs),
      String(Object.values(w.redisCommands).reduce((n, c) => n + c.calls, 0)),
      `${((redisMs / w.jobMs) * 100).toFixed(0)} %`,
    ]);
    out.push(
      '',
      `3. in-process worker, concurrency ${w.concurrency}, coalesceWrites ${w.coalesceWrites}, coalesceReads ${w.coalesceReads}: ${w.seconds.toFixed(1)} s, ${ms(w.chunksPerSecond)} chunks/s; CPU s: ${Object.entries(
        w.cpuSeconds,
      )
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ')}`,
      formatTable(['stage (summed over jobs)', 'ms', 'calls', 'share of job time'], rows),
    );
  }
  out.push(
    '',
    '3. in-process worker throughput, median of the rounds',
    formatTable(
      ['variant', 'chunks/s', 'spread'],
      Object.entries(r.chunksPerSecondByVariant).map(([k, v]) => [
        k,
        ms(v.median),
        `±${(v.spread * 100).toFixed(0)} %`,
      ]),
    ),
  );
  if (r.cpuProfile) {
    out.push(
      '',
      `4. worker process CPU profile (${r.cpuProfile.seconds.toFixed(1)} s run), CPU ms by module per thread`,
    );
    r.cpuProfile.threads.forEach((t, i) => {
      const rows = Object.entries(t)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, ms(v)]);
      out.push(formatTable([`thread ${i + 1}`, 'ms'], rows));
    });
  }
  return out.join('\n');
}
