/**
 * Ingest benchmark: the corpus through Sluice (SDK enqueue → worker processes → Chroma) side by
 * side with the Chroma ceiling, the tutorial loop, the expert script and LangChain's `index()`
 * (see contenders.ts),
 * on the same chunks, embedder and Chroma server, a fresh collection per contender per round,
 * contenders alternating from round to round. Also: re-ingest with nothing changed and with 5 %
 * of the documents changed, 1 vs 2 worker processes, worker memory, and duplicates left after a
 * crash-and-rerun of each contender, and the Redis commands Sluice's worker sends per document.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { RUNTIME_DEFAULTS } from '@sluice/core';
import { uniqueName } from '../test/support/names.js';
import { repoRoot, startNode, type ServiceProcess } from '../test/support/processes.js';
import { startStack } from '../test/support/stack.js';
import { startBenchServices } from './bench-services.js';
import {
  auditCollection,
  chromaClient,
  countRecords,
  dropCollection,
  type AuditResult,
} from './chroma-audit.js';
import {
  runCeiling,
  runContenderPhases,
  runScript,
  type CeilingRecord,
  type ContenderSpec,
  type PhaseResult,
} from './contenders.js';
import {
  SPLIT,
  benchEmbedder,
  closeBenchParsePool,
  listCorpus,
  planCorpus,
  sample,
  writeChangedCorpus,
  type BenchDocument,
  type CorpusOptions,
} from './corpus.js';
import { CpuMeter, MainHeapTrace, findProcess, processMemory, type HeapSample } from './process-stats.js';
import { RedisCommandMonitor, type RedisClientKind, type RedisCommandCounts } from './redis-commands.js';
import {
  RssSampler,
  runSluicePhase,
  sluiceClient,
  startWorkers,
  type RssSample,
} from './sluice-contender.js';
import {
  fmt,
  formatTable,
  loadAverage,
  machine,
  median,
  summarize,
  writeResult,
  type Summary,
} from './stats.js';

/** Parts of the ingest benchmark. */
/** The parts of the ingest benchmark, in the order they run. */
export const INGEST_PARTS = ['throughput', 'crash', 'memory', 'redis'] as const;
export type IngestPart = (typeof INGEST_PARTS)[number];

/** The contenders of a throughput round. */
export const CONTENDERS = [
  'ceiling',
  'tutorial',
  'script',
  'langchain',
  'sluice-1',
  'sluice-2',
  'sluice-1-tuned',
] as const;

/**
 * `WORKER_CONCURRENCY` of the `sluice-1-tuned` contender; the other Sluice contenders run with the
 * worker's default (`RUNTIME_DEFAULTS.concurrency`). 64 shows what a deeper look into the queue
 * buys: more Markdown jobs run while PDF jobs wait for the process's one parse thread, and the
 * upserts they share are larger.
 */
export const TUNED_CONCURRENCY = 64;

/** The worker's `WORKER_CONCURRENCY` default in this build (widened: it changes between builds). */
const DEFAULT_CONCURRENCY: number = RUNTIME_DEFAULTS.concurrency;

/** One of {@link CONTENDERS}. */
export type ContenderName = (typeof CONTENDERS)[number];

/** Options for {@link runIngestBench}. */
export interface IngestBenchOptions {
  /** Name of the run in the result file (`full`, `quick`, `smoke`). */
  label: string;
  /** The documents every contender ingests. */
  corpus: CorpusOptions;
  /** Throughput rounds; contenders rotate from round to round. */
  rounds: number;
  /**
   * The tutorial loop runs on every n-th document only (its rate per chunk does not depend on
   * which chunks; the whole corpus would take it the better part of an hour).
   */
  tutorialStride: number;
  /** The crash-and-rerun tests run on every n-th document. */
  crashStride: number;
  /** Share of documents changed for the incremental re-ingest. */
  changedShare: number;
  /** Corpus of the long memory run (RSS per finished document); `false` to skip it. */
  memoryCorpus: CorpusOptions | false;
  /**
   * Times the long run ingests its corpus, each time into a new collection (so every document is
   * processed again): long enough that the start-up's growth is a small part of the first half.
   */
  memoryPasses: number;
  /** PDFs whose ingestion by a fresh worker gives the peak-RSS figures. */
  memoryPdfs: readonly string[];
  /** Which parts to run. */
  parts: readonly IngestPart[];
  /** Use this Redis instead of starting one. */
  redisUrl?: string;
  /** Use this Chroma instead of starting a dedicated one. */
  chromaUrl?: string;
  /** Extra worker environment (the smoke test shortens the stalled-job timings). */
  workerEnv?: Record<string, string>;
  /** Worker processes in Sluice's crash-and-rerun test. @defaultValue 2 */
  crashWorkers?: number;
  /** Write the JSON under bench/results/. */
  write: boolean;
  /** Progress lines. */
  log: (line: string) => void;
}

/** The full run (≤ 15 minutes on an idle 2-core machine) and the `--quick` smoke run. */
export const INGEST_PRESETS: Record<'full' | 'quick', Omit<IngestBenchOptions, 'log' | 'write'>> = {
  full: {
    label: 'full',
    // Every fourth Markdown page (365 pages with text) and every good PDF (41): about 7,000 chunks.
    corpus: { markdownStride: 4, pdfs: 'all' },
    rounds: 3,
    tutorialStride: 6,
    crashStride: 6,
    changedShare: 0.05,
    memoryCorpus: { markdownStride: 1, pdfs: 'all' },
    memoryPasses: 4,
    memoryPdfs: ['climate.pdf', 'freeculture.pdf'],
    parts: ['throughput', 'crash', 'memory', 'redis'],
  },
  quick: {
    label: 'quick',
    corpus: { markdownStride: 50, markdownLimit: 20, pdfs: 2 },
    rounds: 1,
    tutorialStride: 1,
    crashStride: 1,
    changedShare: 0.05,
    memoryCorpus: { markdownStride: 50, markdownLimit: 20, pdfs: 2 },
    memoryPasses: 2,
    memoryPdfs: ['bitcoin.pdf'],
    parts: ['throughput', 'crash', 'memory', 'redis'],
  },
};

/** First ingest, re-ingests and resources of one contender in one round. */
export interface ContenderRun {
  round: number;
  contender: ContenderName;
  phases: PhaseResult[];
  /** CPU seconds per process (`bench`, `chroma`, `redis`, `worker-1`, …) over the first ingest. */
  cpuSeconds: Record<string, number>;
  /** Highest worker RSS seen during the run (Sluice only). */
  peakWorkerRssMiB?: number;
}

/** What a crash-and-rerun left behind. */
export interface CrashResult {
  /** Planned chunks of the crash documents. */
  chunks: number;
  /** Records in Chroma right after the kill. */
  recordsAtKill: number;
  /** Seconds the rerun took (until every document was indexed again). */
  rerunSeconds: number;
  /** Chunks embedded and written by the rerun. */
  rerunWritten: number;
  /** Chunks written twice: by the killed run and again by the rerun. */
  redone: number;
  /** Documents whose work was under way at the kill (Sluice: jobs active then). */
  interrupted?: number;
  audit: AuditResult;
}

/** Memory of the long run: RSS and the live heap per finished document, first half against last. */
export interface LongRunMemory {
  /** Documents processed: the corpus times `passes`. */
  documents: number;
  passes: number;
  failed: number;
  seconds: number;
  /** Median worker RSS over the first half of the documents. */
  firstHalfMiB: number;
  /** Median worker RSS over the last half. */
  lastHalfMiB: number;
  /** Highest RSS seen. */
  peakMiB: number;
  /**
   * The worker's main-thread heap after each full collection (`--trace-gc`), medians per half;
   * `null` for a half without a full collection (a short run).
   */
  liveHeap: { firstHalfMiB: number | null; lastHalfMiB: number | null; collections: number };
  /** Whether the last half's median RSS or live heap exceeds the first's by more than 10 %. */
  growthFlagged: boolean;
  /** Samples, thinned to at most 200. */
  samples: RssSample[];
  /** Live-heap samples, thinned to at most 200. */
  heapSamples: HeapSample[];
}

/** Everything the ingest benchmark measured. */
export interface IngestBenchResult {
  benchmark: 'ingest';
  label: string;
  machine: Record<string, unknown>;
  loadAverage: { start: number[]; end: number[] };
  versions: Record<string, string>;
  options: Omit<IngestBenchOptions, 'log'>;
  corpus: {
    documents: number;
    markdown: number;
    pdfs: number;
    chunks: number;
    skippedNoText: number;
    tutorialDocuments: number;
    tutorialChunks: number;
    crashDocuments: number;
    crashChunks: number;
    changedDocuments: number;
    /** What the changed documents need at least: new chunks to embed, old chunks to delete. */
    changedChunks: { embedded: number; deleted: number };
    splitter: string;
    embedder: string;
  };
  /** First-ingest chunks/s per contender. */
  firstIngest: Partial<Record<ContenderName, Summary>>;
  ratios: Record<string, { value: number; target: string; met: boolean | undefined }>;
  reingestUnchanged?: {
    sluice: { seconds: Summary; shareOfFirst: number; embedded: number; written: number; deleted: number };
    langchain: { seconds: Summary; embedded: number; deleted: number; skipped: number };
  };
  reingestChanged?: {
    sluice: { seconds: Summary; embedded: number; written: number; deleted: number };
    langchain: { seconds: Summary; embedded: number; written: number; deleted: number };
  };
  /** The collections after the changed re-ingest (round 1) compared with the new version's chunks. */
  finalAudit: Partial<Record<'langchain' | 'sluice-1', AuditResult>>;
  /** Median CPU seconds per process over each contender's first ingest. */
  cpuSeconds: Partial<Record<ContenderName, Record<string, number>>>;
  crash: Partial<Record<'tutorial' | 'langchain' | 'sluice', CrashResult>>;
  memory: {
    pdfs: { file: string; pages?: number; chunks: number; idlePeakMiB: number; peakMiB: number }[];
    longRun?: LongRunMemory;
  };
  /**
   * Redis commands of a Sluice first ingest of the whole corpus (1 worker, default settings) on a
   * Redis of its own, counted with MONITOR from the first enqueue to the last job's end (see
   * redis-commands.ts): the worker's and the SDK's apart, and the commands Lua scripts ran inside
   * Redis apart from both.
   */
  redisCommands?: RedisCommandCounts & {
    documents: number;
    chunks: number;
    seconds: number;
    perDocument: Record<RedisClientKind, number>;
  };
  runs: ContenderRun[];
  /** The table printed on stdout. */
  table: string;
}

function packageVersion(name: string): string {
  const require = createRequire(join(repoRoot, 'packages/ingest/package.json'));
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    // Packages whose exports map hides package.json: read it next to the entry point.
    const root = createRequire(join(repoRoot, 'package.json'));
    let dir = root.resolve(name);
    while (!dir.endsWith(`/node_modules/${name}`)) dir = join(dir, '..');
    return (root(join(dir, 'package.json')) as { version: string }).version;
  }
}

async function versions(chromaUrl: string): Promise<Record<string, string>> {
  const client = chromaClient(chromaUrl);
  const out: Record<string, string> = { chromaServer: await client.version().catch(() => 'unknown') };
  for (const name of [
    'chromadb',
    'bullmq',
    '@langchain/core',
    '@langchain/community',
    '@langchain/textsplitters',
    'pdf-parse',
  ]) {
    out[name] = await Promise.resolve()
      .then(() => packageVersion(name))
      .catch(() => 'unknown');
  }
  return out;
}

/** A contender child process and its phase results. */
interface ContenderChild {
  process: ServiceProcess;
  /** The phases, once the process exited 0; rejects otherwise (also when it was killed). */
  results: Promise<PhaseResult[]>;
}

async function spawnContender(spec: ContenderSpec, dir: string): Promise<ContenderChild> {
  const specPath = join(dir, `${spec.collection}-${Date.now()}.json`);
  await writeFile(specPath, JSON.stringify(spec));
  const child = startNode(join(repoRoot, 'bench/contender-process.ts'), {}, [specPath], ['--import', 'tsx']);
  const results = child.exited.then(({ code, signal }) => {
    if (code !== 0) {
      throw new Error(`${spec.contender} exited with ${signal ?? code}:\n${child.output().slice(-3000)}`);
    }
    return child
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{"phase"'))
      .map((line) => JSON.parse(line) as PhaseResult);
  });
  results.catch(() => undefined);
  return { process: child, results };
}

/** Waits until `collection` holds at least `records` records (or the deadline passes). */
async function waitForRecords(
  chromaUrl: string,
  collection: string,
  records: number,
  done: () => boolean,
): Promise<void> {
  const client = chromaClient(chromaUrl);
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline && !done()) {
    if ((await countRecords(client, collection)) >= records) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const rate = (phase: PhaseResult | undefined) => (phase ? phase.chunks / phase.seconds : NaN);
const pct = (s: Summary) => `±${fmt(s.spread * 100)} %`;

/**
 * Runs the ingest benchmark, prints its table and (with `write`) writes its JSON under
 * bench/results/. See the module comment for what it measures.
 */
export async function runIngestBench(options: IngestBenchOptions): Promise<IngestBenchResult> {
  const { log } = options;
  const loadStart = await loadAverage();
  const tmp = await mkdtemp(join(tmpdir(), 'sluice-bench-'));
  const services = await startBenchServices(options);
  const { redisUrl, chromaUrl } = services;
  const client = chromaClient(chromaUrl);
  const chromaPid = await findProcess('cli.mjs', '--port', new URL(chromaUrl).port);
  const redisPid = await findProcess('redis-server', `:${new URL(redisUrl).port}`);
  const runs: ContenderRun[] = [];
  const finalAudit: IngestBenchResult['finalAudit'] = {};
  const crash: IngestBenchResult['crash'] = {};
  const memory: IngestBenchResult['memory'] = { pdfs: [] };
  const meter = (extra: Record<string, number | undefined> = {}) =>
    new CpuMeter({ chroma: chromaPid, redis: redisPid, ...extra });
  // Each Sluice run in a world of its own (prefix, storage dir), emptied when the run ends.
  const sluiceStack = (label: string) => startStack({ label, redis: redisUrl, chroma: chromaUrl });

  try {
    // --- Input: the documents, their planned chunks, the changed variant ---
    log('planning the corpus (parse + split with Sluice, not timed)…');
    const planned = await planCorpus(await listCorpus(options.corpus), join(tmp, 'plan'));
    const docs = planned.docs;
    const expected = new Map([...planned.chunks].map(([id, chunks]) => [id, chunks.map((c) => c.text)]));
    const changed = await writeChangedCorpus(docs, join(tmp, 'changed'), options.changedShare);
    const changedPlan = await planCorpus(
      changed.docs.filter((d) => changed.changed.includes(d.docId)),
      join(tmp, 'plan-changed'),
    );
    const expectedChanged = new Map(expected);
    // The least an incremental re-ingest must do: embed the new version's chunks that the old one
    // lacks, delete the old one's chunks that the new one lacks (compared by chunk ID).
    const ideal = { embedded: 0, deleted: 0 };
    for (const [id, chunks] of changedPlan.chunks) {
      expectedChanged.set(
        id,
        chunks.map((c) => c.text),
      );
      const before = new Set(planned.chunks.get(id)!.map((c) => c.id));
      const after = new Set(chunks.map((c) => c.id));
      ideal.embedded += [...after].filter((x) => !before.has(x)).length;
      ideal.deleted += [...before].filter((x) => !after.has(x)).length;
    }
    if (ideal.embedded === 0)
      throw new Error('the changed documents yield no new chunk; changeText() missed');
    const tutorialDocs = sample(docs, options.tutorialStride);
    const crashDocs = sample(docs, options.crashStride);
    const chunksOf = (list: readonly BenchDocument[]) =>
      list.reduce((n, d) => n + (planned.chunks.get(d.docId)?.length ?? 0), 0);
    const corpus: IngestBenchResult['corpus'] = {
      documents: docs.length,
      markdown: docs.filter((d) => d.type === 'markdown').length,
      pdfs: docs.filter((d) => d.type === 'pdf').length,
      chunks: planned.totalChunks,
      skippedNoText: planned.skipped.length,
      tutorialDocuments: tutorialDocs.length,
      tutorialChunks: chunksOf(tutorialDocs),
      crashDocuments: crashDocs.length,
      crashChunks: chunksOf(crashDocs),
      changedDocuments: changed.changed.length,
      changedChunks: ideal,
      splitter: `RecursiveCharacterTextSplitter chunkSize ${SPLIT.chunkSize} overlap ${SPLIT.chunkOverlap} (Markdown separators for .md; Sluice's splitDocument)`,
      embedder: benchEmbedder().id,
    };
    log(
      `corpus: ${corpus.documents} documents (${corpus.markdown} Markdown, ${corpus.pdfs} PDF), ${corpus.chunks} chunks; ` +
        `tutorial sample ${corpus.tutorialDocuments} documents / ${corpus.tutorialChunks} chunks`,
    );

    // --- Throughput rounds (first ingest; re-ingests for LangChain and Sluice with 1 worker) ---
    if (options.parts.includes('throughput')) {
      const embedder = benchEmbedder();
      const records: CeilingRecord[] = [];
      for (const doc of docs) {
        const chunks = planned.chunks.get(doc.docId)!;
        const vectors = await embedder.embed(chunks.map((c) => c.text));
        chunks.forEach((c, i) =>
          records.push({ id: c.id, embedding: vectors[i]!, document: c.text, metadata: c.metadata }),
        );
      }
      for (let round = 0; round < options.rounds; round++) {
        const order = CONTENDERS.map((_, i) => CONTENDERS[(i + round) % CONTENDERS.length]!);
        log(`round ${round + 1}/${options.rounds}: ${order.join(', ')}`);
        for (const contender of order) {
          const collection = uniqueName(`bench-${contender}`);
          const run = await runContender(contender, collection, round);
          runs.push(run);
          log(
            `  ${contender.padEnd(10)} ${run.phases
              .map(
                (p) =>
                  `${p.phase} ${fmt(p.seconds, 2)} s (${fmt(rate(p))} chunks/s, embedded ${p.embedded}, deleted ${p.deleted})`,
              )
              .join('; ')}`,
          );
          await dropCollection(client, collection);
        }
      }

      async function runContender(
        contender: ContenderName,
        collection: string,
        round: number,
      ): Promise<ContenderRun> {
        switch (contender) {
          case 'ceiling': {
            const cpu = meter();
            await cpu.start();
            const phase = await runCeiling(chromaUrl, collection, records);
            const cpuSeconds = await cpu.stop();
            await expectRecords(collection, planned.totalChunks, contender);
            return { round, contender, phases: [phase], cpuSeconds };
          }
          case 'script': {
            const cpu = meter();
            await cpu.start();
            const phase = await runScript(chromaUrl, collection, docs);
            const cpuSeconds = await cpu.stop();
            await expectRecords(collection, planned.totalChunks, contender);
            return { round, contender, phases: [phase], cpuSeconds };
          }
          case 'tutorial':
          case 'langchain': {
            const phases =
              contender === 'tutorial'
                ? [{ name: 'first', docs: tutorialDocs }]
                : [
                    { name: 'first', docs },
                    { name: 'unchanged', docs },
                    { name: 'changed', docs: changed.docs },
                  ];
            const cpu = meter();
            await cpu.start();
            let firstPhaseCpu: Promise<Record<string, number>> | undefined;
            const results = await runContenderPhases({ contender, chromaUrl, collection, phases }, () => {
              firstPhaseCpu ??= cpu.stop();
            });
            const cpuSeconds = await firstPhaseCpu!;
            if (contender === 'langchain' && round === 0) {
              finalAudit.langchain = await auditCollection(client, collection, expectedChanged);
            }
            return { round, contender, phases: results, cpuSeconds };
          }
          case 'sluice-1':
          case 'sluice-2':
          case 'sluice-1-tuned': {
            const count = contender === 'sluice-2' ? 2 : 1;
            await using stack = await sluiceStack(`bench-${contender}`);
            const workerEnv = {
              ...options.workerEnv,
              ...(contender === 'sluice-1-tuned' ? { WORKER_CONCURRENCY: String(TUNED_CONCURRENCY) } : {}),
            };
            const workers = await startWorkers(stack, { count, env: workerEnv });
            const sdk = sluiceClient(stack);
            try {
              let completed = 0;
              const sampler = new RssSampler(workers.pids, () => completed);
              const cpu = meter(Object.fromEntries(workers.pids.map((pid, i) => [`worker-${i + 1}`, pid])));
              await cpu.start();
              sampler.start();
              const first = await runSluicePhase(sdk, 'first', collection, docs, {
                onCompleted: () => completed++,
              });
              const cpuSeconds = await cpu.stop();
              const samples = await sampler.stop();
              await expectRecords(collection, planned.totalChunks, contender);
              const phases: PhaseResult[] = [strip(first)];
              if (contender === 'sluice-1') {
                phases.push(strip(await runSluicePhase(sdk, 'unchanged', collection, docs)));
                phases.push(strip(await runSluicePhase(sdk, 'changed', collection, changed.docs)));
                if (round === 0)
                  finalAudit['sluice-1'] = await auditCollection(client, collection, expectedChanged);
              }
              const peakWorkerRssMiB = Math.max(...samples.flatMap((s) => s.rssMiB));
              return { round, contender, phases, cpuSeconds, peakWorkerRssMiB };
            } finally {
              await sdk.close();
              await workers.stop();
            }
          }
        }
      }
    }

    // --- Crash and rerun: each contender SIGKILLed once half its chunks are in Chroma ---
    if (options.parts.includes('crash')) {
      const crashExpected = new Map(crashDocs.map((d) => [d.docId, expected.get(d.docId)!]));
      const half = Math.ceil(corpus.crashChunks / 2);
      for (const contender of ['tutorial', 'langchain'] as const) {
        const collection = uniqueName(`bench-crash-${contender}`);
        const spec: ContenderSpec = {
          contender,
          chromaUrl,
          collection,
          phases: [{ name: 'first', docs: crashDocs }],
        };
        const first = await spawnContender(spec, tmp);
        let exited = false;
        void first.process.exited.then(() => (exited = true));
        await waitForRecords(chromaUrl, collection, half, () => exited);
        await first.process.stop();
        const recordsAtKill = await countRecords(client, collection);
        // Run again, to the end: in this process (only the killed run needs a process of its own).
        const [phase] = await runContenderPhases(spec);
        const audit = await auditCollection(client, collection, crashExpected);
        crash[contender] = {
          chunks: corpus.crashChunks,
          recordsAtKill,
          rerunSeconds: phase!.seconds,
          rerunWritten: phase!.written,
          // The rerun starts from scratch: everything the killed run wrote is written again.
          redone: Math.min(recordsAtKill, phase!.written),
          audit,
        };
        log(
          `  crash ${contender}: killed at ${recordsAtKill}/${corpus.crashChunks} records; after rerun ${audit.records} records, ${audit.duplicates} duplicates, ${audit.missing} missing`,
        );
        await dropCollection(client, collection);
      }
      crash.sluice = await sluiceCrash(crashExpected, half);
      log(
        `  crash sluice: killed at ${crash.sluice.recordsAtKill}/${corpus.crashChunks} records; after rerun ${crash.sluice.audit.records} records, ` +
          `${crash.sluice.audit.duplicates} duplicates, ${crash.sluice.audit.missing} missing, ${crash.sluice.redone} chunks redone`,
      );

      async function sluiceCrash(
        crashExpectedChunks: Map<string, string[]>,
        halfway: number,
      ): Promise<CrashResult> {
        const collection = uniqueName('bench-crash-sluice');
        await using stack = await sluiceStack('bench-crash-sluice');
        const workerOptions = {
          count: options.crashWorkers ?? 2,
          ...(options.workerEnv ? { env: options.workerEnv } : {}),
        };
        const workers = await startWorkers(stack, workerOptions);
        const firstSdk = sluiceClient(stack);
        const jobs = new Map<string, string>();
        let finished = false;
        const firstRun = runSluicePhase(firstSdk, 'first', collection, crashDocs, { jobs }).finally(
          () => (finished = true),
        );
        firstRun.catch(() => undefined);
        await waitForRecords(chromaUrl, collection, halfway, () => finished);
        await workers.kill();
        const recordsAtKill = await countRecords(client, collection);
        // Jobs finished before the kill keep their result; the others are redone by the rerun.
        const doneBefore = new Set<string>();
        for (const [docId, jobId] of jobs) {
          if ((await firstSdk.status(jobId)).state === 'completed') doneBefore.add(docId);
        }
        await firstSdk.close();
        const secondWorkers = await startWorkers(stack, workerOptions);
        const sdk = sluiceClient(stack);
        try {
          const rerun = await runSluicePhase(sdk, 'rerun', collection, crashDocs, {
            waitForDeduplicated: true,
          });
          let rerunWritten = 0;
          for (const [docId, result] of rerun.results)
            if (!doneBefore.has(docId)) rerunWritten += result.embedded;
          const audit = await auditCollection(client, collection, crashExpectedChunks);
          await dropCollection(client, collection);
          return {
            chunks: corpus.crashChunks,
            recordsAtKill,
            rerunSeconds: rerun.seconds,
            rerunWritten,
            redone: Math.max(0, recordsAtKill + rerunWritten - audit.expected),
            interrupted: crashDocs.length - doneBefore.size,
            audit,
          };
        } finally {
          await sdk.close();
          await secondWorkers.stop();
        }
      }
    }

    // --- Memory: peak RSS of a fresh worker per large PDF, and RSS over a long run ---
    if (options.parts.includes('memory')) {
      const pdfDocs = await listCorpus({ markdownLimit: 0, pdfs: options.memoryPdfs });
      for (const doc of pdfDocs) {
        await using stack = await sluiceStack('bench-memory-pdf');
        const collection = uniqueName('bench-memory-pdf');
        const workers = await startWorkers(stack, {
          count: 1,
          ...(options.workerEnv ? { env: options.workerEnv } : {}),
        });
        const sdk = sluiceClient(stack);
        try {
          const idle = await processMemory(workers.pids[0]!);
          const phase = await runSluicePhase(sdk, 'pdf', collection, [doc]);
          const after = await processMemory(workers.pids[0]!);
          const result = [...phase.results.values()][0];
          memory.pdfs.push({
            file: basename(doc.path),
            ...(result?.pages === undefined ? {} : { pages: result.pages }),
            chunks: phase.chunks,
            idlePeakMiB: Math.round(idle?.peakMiB ?? NaN),
            peakMiB: Math.round(after?.peakMiB ?? NaN),
          });
          log(
            `  memory ${basename(doc.path)}: worker peak RSS ${memory.pdfs.at(-1)!.peakMiB} MiB (idle ${memory.pdfs.at(-1)!.idlePeakMiB} MiB)`,
          );
        } finally {
          await sdk.close();
          await workers.stop();
          await dropCollection(client, collection);
        }
      }
      if (options.memoryCorpus) memory.longRun = await longRun(await listCorpus(options.memoryCorpus));

      async function longRun(corpus: BenchDocument[]): Promise<LongRunMemory> {
        await using stack = await sluiceStack('bench-memory-long');
        const collections = Array.from({ length: options.memoryPasses }, () =>
          uniqueName('bench-memory-long'),
        );
        const workers = await startWorkers(stack, {
          count: 1,
          nodeArgs: ['--trace-gc'],
          ...(options.workerEnv ? { env: options.workerEnv } : {}),
        });
        const sdk = sluiceClient(stack);
        let completed = 0;
        const sampler = new RssSampler(workers.pids, () => completed);
        const heap = new MainHeapTrace();
        const readHeap = () => heap.read(workers.processes[0]!.output(), completed);
        const heapTimer = setInterval(readHeap, 200);
        try {
          sampler.start(200);
          let seconds = 0;
          let failed = 0;
          for (const [pass, collection] of collections.entries()) {
            const phase = await runSluicePhase(sdk, `long-${pass + 1}`, collection, corpus, {
              onCompleted: () => completed++,
              tolerateFailures: true,
            });
            seconds += phase.seconds;
            failed += phase.failed;
          }
          const samples = await sampler.stop();
          readHeap();
          const n = corpus.length * collections.length;
          const rss = (s: RssSample) => s.rssMiB[0] ?? 0;
          const halves = <T extends { completed: number }>(all: T[], value: (x: T) => number) => {
            const of = (part: T[]) => (part.length ? median(part.map(value)) : null);
            return {
              first: of(all.filter((s) => s.completed < n / 2)),
              last: of(all.filter((s) => s.completed >= n / 2)),
            };
          };
          const rssHalves = halves(samples, rss);
          const heapHalves = halves(heap.samples, (s) => s.liveMiB);
          const grew = (h: { first: number | null; last: number | null }) =>
            h.first !== null && h.last !== null && h.last > h.first * 1.1;
          const tenth = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);
          const thin = <T>(all: T[]) =>
            all.filter((_, i) => i % Math.max(1, Math.ceil(all.length / 200)) === 0);
          const result: LongRunMemory = {
            documents: n,
            passes: collections.length,
            failed,
            seconds,
            firstHalfMiB: Math.round(rssHalves.first ?? NaN),
            lastHalfMiB: Math.round(rssHalves.last ?? NaN),
            peakMiB: Math.round(Math.max(...samples.map(rss))),
            liveHeap: {
              firstHalfMiB: tenth(heapHalves.first),
              lastHalfMiB: tenth(heapHalves.last),
              collections: heap.samples.length,
            },
            growthFlagged: grew(rssHalves) || grew(heapHalves),
            samples: thin(samples),
            heapSamples: thin(heap.samples),
          };
          log(
            `  memory long run: ${n} documents (${collections.length} passes) in ${fmt(seconds, 1)} s; median RSS first half ${result.firstHalfMiB} MiB, ` +
              `last half ${result.lastHalfMiB} MiB, peak ${result.peakMiB} MiB; live heap ${result.liveHeap.firstHalfMiB ?? '–'} → ${result.liveHeap.lastHalfMiB ?? '–'} MiB ` +
              `(${result.liveHeap.collections} full collections)${result.growthFlagged ? '  ⚠ GROWTH' : ''}`,
          );
          return result;
        } finally {
          clearInterval(heapTimer);
          await sdk.close();
          await workers.stop();
          for (const collection of collections) await dropCollection(client, collection);
        }
      }
    }

    // --- Redis commands per document: Sluice, 1 worker, on a Redis of its own under MONITOR ---
    let redisCommands: IngestBenchResult['redisCommands'];
    if (options.parts.includes('redis')) {
      redisCommands = await countRedisCommands();
      const per = redisCommands.perDocument;
      log(
        `  redis: ${fmt(per.worker, 2)} commands per document from the worker, ${fmt(per.sdk, 2)} from the SDK, ` +
          `${fmt(per.lua, 1)} run by Lua scripts inside Redis`,
      );
    }

    async function countRedisCommands(): Promise<NonNullable<IngestBenchResult['redisCommands']>> {
      await using stack = await startStack({ label: 'bench-redis', redis: 'dedicated', chroma: chromaUrl });
      const collection = uniqueName('bench-redis');
      const workers = await startWorkers(stack, {
        count: 1,
        ...(options.workerEnv ? { env: options.workerEnv } : {}),
      });
      const sdk = sluiceClient(stack);
      try {
        const monitor = await RedisCommandMonitor.start(stack.redisUrl);
        const phase = await runSluicePhase(sdk, 'first', collection, docs);
        const counts = await monitor.stop();
        await expectRecords(collection, planned.totalChunks, 'sluice (redis count)');
        const perDocument = Object.fromEntries(
          Object.entries(counts.total).map(([kind, n]) => [kind, n / docs.length]),
        ) as Record<RedisClientKind, number>;
        return {
          documents: docs.length,
          chunks: phase.chunks,
          seconds: phase.seconds,
          perDocument,
          ...counts,
        };
      } finally {
        await sdk.close();
        await workers.stop();
        await dropCollection(client, collection);
      }
    }

    const result = summarizeRuns({
      label: options.label,
      machine: await machine(),
      loadAverage: { start: loadStart, end: await loadAverage() },
      versions: await versions(chromaUrl),
      options: { ...options, log: undefined } as unknown as Omit<IngestBenchOptions, 'log'>,
      corpus,
      runs,
      finalAudit,
      crash,
      memory,
      redisCommands,
    });
    log(result.table);
    if (options.write) {
      // A run of some parts only is named after them: `ingest-memory-<date>.json`.
      const name = INGEST_PARTS.every((part) => options.parts.includes(part))
        ? 'ingest'
        : ['ingest', ...INGEST_PARTS.filter((part) => options.parts.includes(part))].join('-');
      log(`  written to ${await writeResult(name, result)}`);
    }
    return result;
  } finally {
    await closeBenchParsePool();
    await services.stop();
    await rm(tmp, { recursive: true, force: true });
  }

  async function expectRecords(collection: string, want: number, who: string): Promise<void> {
    const have = await countRecords(client, collection);
    if (have !== want) throw new Error(`${who} stored ${have} records, expected ${want}`);
  }
}

function strip(phase: PhaseResult & { jobs?: unknown; results?: unknown }): PhaseResult {
  const { jobs: _jobs, results: _results, ...rest } = phase;
  return rest;
}

type Collected = Pick<
  IngestBenchResult,
  | 'label'
  | 'machine'
  | 'loadAverage'
  | 'versions'
  | 'options'
  | 'corpus'
  | 'runs'
  | 'finalAudit'
  | 'crash'
  | 'memory'
  | 'redisCommands'
>;

/** Medians, spreads, ratios and the printed table from the raw runs. */
function summarizeRuns(c: Collected): IngestBenchResult {
  const phaseOf = (contender: ContenderName, phase: string) =>
    c.runs.filter((r) => r.contender === contender).map((r) => r.phases.find((p) => p.phase === phase));
  const rates = (contender: ContenderName) =>
    phaseOf(contender, 'first')
      .map(rate)
      .filter((n) => Number.isFinite(n));
  const firstIngest: IngestBenchResult['firstIngest'] = {};
  const cpuSeconds: IngestBenchResult['cpuSeconds'] = {};
  for (const contender of CONTENDERS) {
    const values = rates(contender);
    if (values.length) firstIngest[contender] = summarize(values);
    const runs = c.runs.filter((r) => r.contender === contender);
    if (runs.length) {
      const names = new Set(runs.flatMap((r) => Object.keys(r.cpuSeconds)));
      cpuSeconds[contender] = Object.fromEntries(
        [...names].map((n) => [n, Math.round(median(runs.map((r) => r.cpuSeconds[n] ?? 0)) * 10) / 10]),
      );
    }
  }
  const m = (contender: ContenderName) => firstIngest[contender]?.median ?? NaN;
  const ratio = (value: number, target: string, met: boolean | undefined) => ({ value, target, met });
  const ratios: IngestBenchResult['ratios'] = {};
  // SPEC.md "Performance" targets, against Sluice with the worker's default settings.
  if (firstIngest['sluice-1']) {
    const s = m('sluice-1');
    const atLeast = (value: number, min: number) => ratio(value, `≥ ${min}`, value >= min);
    ratios.sluiceVsLangchain = atLeast(s / m('langchain'), 1.5);
    ratios.sluiceVsTutorial = atLeast(s / m('tutorial'), 10);
    ratios.sluiceVsScript = atLeast(s / m('script'), 1.2);
    ratios.sluiceVsCeiling = atLeast(s / m('ceiling'), 0.75);
    ratios['sluice 2 workers/1 worker'] = ratio(m('sluice-2') / s, 'report', undefined);
    ratios['sluice 2 workers/ceiling'] = ratio(m('sluice-2') / m('ceiling'), 'report', undefined);
    if (firstIngest['sluice-1-tuned']) {
      const t = m('sluice-1-tuned');
      ratios['sluice tuned/langchain'] = atLeast(t / m('langchain'), 1.5);
      ratios['sluice tuned/tutorial'] = atLeast(t / m('tutorial'), 10);
      ratios['sluice tuned/script'] = atLeast(t / m('script'), 1.2);
      ratios['sluice tuned/ceiling'] = atLeast(t / m('ceiling'), 0.75);
    }
  }
  if (c.redisCommands) {
    const value = c.redisCommands.perDocument.worker;
    ratios.redisCommandsPerDocument = ratio(value, "≤ 6 (worker commands; the SDK's apart)", value <= 6);
  }

  const secondsOf = (contender: ContenderName, phase: string) =>
    phaseOf(contender, phase)
      .filter((p): p is PhaseResult => p !== undefined)
      .map((p) => p.seconds);
  const worst = (contender: ContenderName, phase: string, key: 'embedded' | 'written' | 'deleted') =>
    Math.max(
      0,
      ...phaseOf(contender, phase)
        .filter((p): p is PhaseResult => p !== undefined)
        .map((p) => p[key]),
    );
  const mid = (contender: ContenderName, phase: string, pick: (p: PhaseResult) => number) =>
    median(
      phaseOf(contender, phase)
        .filter((p): p is PhaseResult => p !== undefined)
        .map(pick),
    );
  let reingestUnchanged: IngestBenchResult['reingestUnchanged'];
  let reingestChanged: IngestBenchResult['reingestChanged'];
  const sluiceUnchanged = secondsOf('sluice-1', 'unchanged');
  const lcUnchanged = secondsOf('langchain', 'unchanged');
  if (sluiceUnchanged.length && lcUnchanged.length) {
    const sFirst = median(secondsOf('sluice-1', 'first'));
    reingestUnchanged = {
      sluice: {
        seconds: summarize(sluiceUnchanged),
        shareOfFirst: median(sluiceUnchanged) / sFirst,
        embedded: worst('sluice-1', 'unchanged', 'embedded'),
        written: worst('sluice-1', 'unchanged', 'written'),
        deleted: worst('sluice-1', 'unchanged', 'deleted'),
      },
      langchain: {
        seconds: summarize(lcUnchanged),
        embedded: mid('langchain', 'unchanged', (p) => p.embedded),
        deleted: mid('langchain', 'unchanged', (p) => p.deleted),
        skipped: mid('langchain', 'unchanged', (p) => p.details?.numSkipped ?? 0),
      },
    };
    const u = reingestUnchanged;
    ratios['unchanged: sluice time/first ingest'] = ratio(
      u.sluice.shareOfFirst,
      '≤ 0.05, 0 embedded/written/deleted',
      u.sluice.shareOfFirst <= 0.05 && u.sluice.embedded + u.sluice.written + u.sluice.deleted === 0,
    );
    const speed = median(lcUnchanged) / median(sluiceUnchanged);
    ratios['unchanged: langchain time/sluice time'] = ratio(speed, '≥ 10', speed >= 10);
    const sluiceChanged = secondsOf('sluice-1', 'changed');
    const lcChanged = secondsOf('langchain', 'changed');
    reingestChanged = {
      sluice: {
        seconds: summarize(sluiceChanged),
        embedded: mid('sluice-1', 'changed', (p) => p.embedded),
        written: mid('sluice-1', 'changed', (p) => p.written),
        deleted: mid('sluice-1', 'changed', (p) => p.deleted),
      },
      langchain: {
        seconds: summarize(lcChanged),
        embedded: mid('langchain', 'changed', (p) => p.embedded),
        written: mid('langchain', 'changed', (p) => p.written),
        deleted: mid('langchain', 'changed', (p) => p.deleted),
      },
    };
    const r = reingestChanged;
    const changedSpeed = r.langchain.seconds.median / r.sluice.seconds.median;
    ratios['5 % changed: langchain time/sluice time'] = ratio(
      changedSpeed,
      '> 1 and fewer chunks touched (SPEC; issue 7: ≥ 2)',
      changedSpeed > 1 && r.sluice.embedded + r.sluice.deleted < r.langchain.embedded + r.langchain.deleted,
    );
  }

  const partial = { firstIngest, ratios, reingestUnchanged, reingestChanged, cpuSeconds };
  return { benchmark: 'ingest', ...c, ...partial, table: renderTable(c, partial) };
}

function renderTable(
  c: Collected,
  s: Pick<IngestBenchResult, 'firstIngest' | 'ratios' | 'reingestUnchanged' | 'reingestChanged'>,
): string {
  const rows: string[][] = [];
  const f = s.firstIngest;
  const ratioCell = (key: string) => {
    const r = s.ratios[key];
    if (!r) return ['–', '–', '–'];
    return [`${fmt(r.value, 2)}×`, r.target, r.met === undefined ? 'report' : r.met ? 'met' : 'NOT met'];
  };
  const labels: Record<ContenderName, string> = {
    ceiling: 'Chroma ceiling (batches of 250, pre-embedded)',
    tutorial: `tutorial loop (one add per chunk; ${c.corpus.tutorialChunks}-chunk sample)`,
    script: 'expert script (one process, batches of 250, one upsert in flight, no queue)',
    langchain: 'LangChain index() (incremental, in-memory record manager)',
    'sluice-1': `Sluice, 1 worker process (SDK → worker → Chroma), default WORKER_CONCURRENCY (${DEFAULT_CONCURRENCY})`,
    'sluice-2': 'Sluice, 2 worker processes',
    'sluice-1-tuned': `Sluice, 1 worker, WORKER_CONCURRENCY=${TUNED_CONCURRENCY}${DEFAULT_CONCURRENCY === TUNED_CONCURRENCY ? ' (the default)' : ''}`,
  };
  for (const contender of CONTENDERS) {
    const summary = f[contender];
    if (!summary) continue;
    rows.push([
      `first ingest: ${labels[contender]}`,
      `${fmt(summary.median)} chunks/s (${pct(summary)})`,
      '',
      '',
      '',
    ]);
  }
  const ratioRows: [string, string][] = [
    ['sluiceVsCeiling', 'ratio Sluice/ceiling'],
    ['sluiceVsTutorial', 'ratio Sluice/tutorial'],
    ['sluiceVsScript', 'ratio Sluice/expert script'],
    ['sluiceVsLangchain', 'ratio Sluice/LangChain'],
    ['sluice 2 workers/1 worker', 'scale: 2 workers/1 worker'],
    ['sluice 2 workers/ceiling', 'ratio Sluice (2 workers)/ceiling'],
    ['sluice tuned/ceiling', `ratio Sluice (concurrency ${TUNED_CONCURRENCY})/ceiling`],
    ['sluice tuned/tutorial', `ratio Sluice (concurrency ${TUNED_CONCURRENCY})/tutorial`],
    ['sluice tuned/script', `ratio Sluice (concurrency ${TUNED_CONCURRENCY})/expert script`],
    ['sluice tuned/langchain', `ratio Sluice (concurrency ${TUNED_CONCURRENCY})/LangChain`],
  ];
  for (const [key, label] of ratioRows) if (s.ratios[key]) rows.push([label, '', ...ratioCell(key)]);
  const redis = c.redisCommands;
  if (redis) {
    rows.push([
      `Redis commands per document, Sluice 1 worker (${redis.documents} documents, MONITOR)`,
      `worker ${fmt(redis.perDocument.worker, 2)}; SDK ${fmt(redis.perDocument.sdk, 2)}; inside Lua scripts ${fmt(redis.perDocument.lua, 1)}`,
      fmt(redis.perDocument.worker, 2),
      s.ratios.redisCommandsPerDocument!.target,
      s.ratios.redisCommandsPerDocument!.met ? 'met' : 'NOT met',
    ]);
  }
  const u = s.reingestUnchanged;
  if (u) {
    rows.push([
      're-ingest, nothing changed: Sluice',
      `${fmt(u.sluice.seconds.median, 2)} s (${pct(u.sluice.seconds)}); embedded ${u.sluice.embedded}, written ${u.sluice.written}, deleted ${u.sluice.deleted}`,
      ...ratioCell('unchanged: sluice time/first ingest'),
    ]);
    rows.push([
      're-ingest, nothing changed: LangChain',
      `${fmt(u.langchain.seconds.median, 2)} s (${pct(u.langchain.seconds)}); deleted and re-added ${fmt(u.langchain.deleted)}, re-embedded ${fmt(u.langchain.embedded)}`,
      ...ratioCell('unchanged: langchain time/sluice time'),
    ]);
  }
  const ch = s.reingestChanged;
  if (ch) {
    rows.push([
      `re-ingest, ${c.corpus.changedDocuments} docs (5 %) changed: Sluice (needed: embed ${c.corpus.changedChunks.embedded}, delete ${c.corpus.changedChunks.deleted})`,
      `${fmt(ch.sluice.seconds.median, 2)} s (${pct(ch.sluice.seconds)}); embedded ${ch.sluice.embedded}, written ${ch.sluice.written}, deleted ${ch.sluice.deleted}`,
      '',
      '',
      '',
    ]);
    rows.push([
      `re-ingest, ${c.corpus.changedDocuments} docs (5 %) changed: LangChain`,
      `${fmt(ch.langchain.seconds.median, 2)} s (${pct(ch.langchain.seconds)}); embedded ${ch.langchain.embedded}, written ${ch.langchain.written}, deleted ${ch.langchain.deleted}`,
      ...ratioCell('5 % changed: langchain time/sluice time'),
    ]);
  }
  for (const [name, crash] of Object.entries(c.crash)) {
    rows.push([
      `crash-and-rerun: ${name}`,
      `killed at ${crash.recordsAtKill}/${crash.chunks}; after rerun ${crash.audit.records} records, ${crash.audit.duplicates} duplicates, ${crash.audit.missing} missing; ${crash.redone} chunks redone`,
      '',
      name === 'sluice' ? '0 duplicates' : 'report',
      name === 'sluice'
        ? crash.audit.duplicates === 0 && crash.audit.missing === 0
          ? 'met'
          : 'NOT met'
        : 'report',
    ]);
  }
  for (const pdf of c.memory.pdfs) {
    rows.push([
      `memory: worker peak RSS, ${pdf.file}${pdf.pages ? ` (${pdf.pages} pages)` : ''}`,
      `${pdf.peakMiB} MiB (idle worker ${pdf.idlePeakMiB} MiB)`,
      '',
      'report',
      'report',
    ]);
  }
  const long = c.memory.longRun;
  if (long) {
    rows.push([
      `memory: ${long.documents}-document run (${long.passes} passes), 1 worker`,
      `median RSS first half ${long.firstHalfMiB} MiB, last half ${long.lastHalfMiB} MiB, peak ${long.peakMiB} MiB; ` +
        `live heap ${long.liveHeap.firstHalfMiB ?? '–'} → ${long.liveHeap.lastHalfMiB ?? '–'} MiB`,
      '',
      'no growth',
      long.growthFlagged ? 'GROWTH FLAGGED' : 'met',
    ]);
  }
  const load = c.loadAverage;
  return [
    `ingest benchmark (${c.label}): ${c.corpus.documents} documents, ${c.corpus.chunks} chunks, ${c.options.rounds} round(s), contenders alternating; ` +
      `load average ${load.start.map((n) => n.toFixed(2)).join(' ')} at start, ${load.end.map((n) => n.toFixed(2)).join(' ')} at end`,
    formatTable(['measure', 'median (spread)', 'ratio', 'target', 'verdict'], rows),
  ].join('\n');
}
