/**
 * First ingest against a rate-limited embedding endpoint (`pnpm bench embed`): the same Markdown
 * documents through LangChain's `index()` with `OpenAIEmbeddings`, the tutorial loop with the
 * OpenAI SDK, and Sluice with one and two worker processes (`EMBEDDINGS=openai`), each against a
 * fresh instance of the local provider-like server of embedding-server.ts with the same limits,
 * contenders rotating from round to round.
 *
 * The limits are sized from the corpus: TPM so that a client keeping the token limit exactly busy
 * needs `targetSeconds` for the corpus, RPM at OpenAI tier 1's ratio (3,000 RPM to 1,000,000 TPM),
 * so the binding limit is the tokens for any client that sends more than about 333 tokens per
 * request, and Chroma (500–1,000 records/s) is far from binding.
 *
 * Utilisation of a run: (tokens admitted per second of wall time) ÷ (TPM / 60), or the same for
 * requests when those are nearer their limit; the nearer one is reported as binding. A client that
 * spends each window's budget at its start can exceed 1.0 by up to one window's budget over the
 * run, so the runs are sized to last several windows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenAIEmbeddings } from '@langchain/openai';
import OpenAI from 'openai';
import { uniqueName } from '../test/support/names.js';
import { startStack } from '../test/support/stack.js';
import { startBenchServices } from './bench-services.js';
import { chromaClient, countRecords, createBenchCollection, dropCollection } from './chroma-audit.js';
import { LangChainIndexer, runTutorial } from './contenders.js';
import {
  closeBenchParsePool,
  listCorpus,
  planCorpus,
  sample,
  type BenchDocument,
  type CorpusOptions,
} from './corpus.js';
import {
  estimateTokens,
  startEmbeddingServer,
  type EmbeddingServer,
  type EmbeddingServerOptions,
  type EmbeddingServerStats,
} from './embedding-server.js';
import { runSluicePhase, sluiceClient, startWorkers } from './sluice-contender.js';
import { fmt, formatTable, loadAverage, machine, summarize, writeResult, type Summary } from './stats.js';

/** The contenders, in the order of the first round. */
export const EMBED_CONTENDERS = ['langchain', 'tutorial', 'sluice-1', 'sluice-2'] as const;

/** One of {@link EMBED_CONTENDERS}. */
export type EmbedContender = (typeof EMBED_CONTENDERS)[number];

/** The model name every contender sends (the server answers any). */
const MODEL = 'bench-embedding-3-small';
/** The API key every contender sends (the server wants one, any). */
const API_KEY = 'bench';
/** OpenAI tier 1 for `text-embedding-3-small`: 3,000 RPM and 1,000,000 TPM. */
const TOKENS_PER_REQUEST_AT_BALANCE = 1_000_000 / 3000;
/**
 * The largest request a contender sends, in tokens: LangChain's `index()` hands
 * `OpenAIEmbeddings` 100 chunks at a time, of at most 1,000 characters (250 tokens) each. The
 * server's window must hold at least two of them, or such a request could never be admitted.
 */
const LARGEST_REQUEST_TOKENS = 100 * 250;

/** Options for {@link runEmbedBench}. */
export interface EmbedBenchOptions {
  /** Name of the run in the result file (`full`, `quick`, `smoke`). */
  label: string;
  /** The documents every contender ingests (Markdown only: the endpoint, not the parser, is measured). */
  corpus: CorpusOptions;
  /** Rounds; contenders rotate from round to round. */
  rounds: number;
  /** Seconds a client keeping the token limit exactly busy needs for the corpus: sets TPM. */
  targetSeconds: number;
  /**
   * About this many chunks for the tutorial loop, every n-th document (it sends one request per
   * chunk and waits for each, so it runs at 4–5 chunks/s whatever the limits).
   */
  tutorialChunks: number;
  /**
   * The server's sliding window, seconds; raised when needed to hold two of the largest requests.
   * Shorter than a minute so that a 1–2 minute run is not dominated by its first window's burst
   * (see embedding-server.ts).
   */
  windowSeconds: number;
  /** Server options besides the limits (latency, seed, dimensions). @defaultValue the server's */
  server?: Omit<EmbeddingServerOptions, 'rpm' | 'tpm' | 'windowSeconds' | 'port'>;
  /** Use this Redis instead of starting one. */
  redisUrl?: string;
  /** Use this Chroma instead of starting a dedicated one. */
  chromaUrl?: string;
  /** Extra worker environment. */
  workerEnv?: Record<string, string>;
  /**
   * Also measure the embedding cache (`EMBEDDINGS_CACHE_MB`): Sluice with the cache on ingests the
   * documents into one collection, then the same documents into a second.
   */
  cache: boolean;
  /** Write the JSON under bench/results/. */
  write: boolean;
  /** Progress lines. */
  log: (line: string) => void;
}

/** The full run (about 10 minutes on a quiet 2-core machine) and the `--quick` smoke run. */
export const EMBED_PRESETS: Record<'full' | 'quick', Omit<EmbedBenchOptions, 'log' | 'write'>> = {
  full: {
    label: 'full',
    // Every fifth Markdown page: 296 documents with text, 3,296 chunks, 527,352 tokens.
    corpus: { markdownStride: 5, pdfs: [] },
    rounds: 2,
    targetSeconds: 75,
    tutorialChunks: 250,
    windowSeconds: 10,
    cache: true,
  },
  quick: {
    label: 'quick',
    corpus: { markdownStride: 100, markdownLimit: 8, pdfs: [] },
    rounds: 1,
    targetSeconds: 5,
    tutorialChunks: 20,
    windowSeconds: 2,
    cache: true,
  },
};

/** The limits every contender's server enforces. */
export interface EmbedLimits {
  rpm: number;
  tpm: number;
  windowSeconds: number;
  /** What one window admits. */
  windowBudget: { requests: number; tokens: number };
}

/** How close a run came to the endpoint's limits. */
export interface EndpointUse {
  /** Admitted tokens per second ÷ (TPM / 60). */
  tokens: number;
  /** Admitted requests per second ÷ (RPM / 60). */
  requests: number;
  /** The limit the run came nearest to. */
  binding: 'tokens' | 'requests';
  /** The binding limit's utilisation. */
  utilisation: number;
  /** 429 answers ÷ requests. */
  http429Share: number;
}

/** One contender's first ingest in one round. */
export interface EmbedRun {
  round: number;
  contender: EmbedContender;
  /** Wall time, first document sent to last chunk stored (or to the error that ended the run). */
  seconds: number;
  /** Chunks the run should store. */
  chunks: number;
  /** Records in the collection after the run. */
  stored: number;
  /** Stored chunks per second. */
  chunksPerSecond: number;
  /** Sluice: jobs failed; the others: errors thrown (the run stops at the first, as a script does). */
  failed: number;
  /** Sluice: job attempts beyond the first (jobs retried after a failed attempt). */
  jobRetries?: number;
  /** The error that ended the run (tutorial, LangChain). */
  error?: string;
  server: EmbeddingServerStats;
  use: EndpointUse;
}

/** A contender's runs, summarised. */
export interface EmbedContenderSummary {
  chunksPerSecond: Summary;
  seconds: Summary;
  utilisation: Summary;
  binding: 'tokens' | 'requests';
  /** Summed over the rounds. */
  requests: number;
  tokens: number;
  http429: number;
  /** 429 answers ÷ requests, over all rounds. */
  http429Share: number;
  failed: number;
  /** Whether every run stored every chunk. */
  complete: boolean;
}

/** One Sluice ingest of the documents with the embedding cache on. */
export interface EmbedCachePass {
  seconds: number;
  /** Requests and tokens the endpoint received. */
  requests: number;
  tokens: number;
  failed: number;
  /** Records in the collection after the pass. */
  stored: number;
}

/**
 * What the embedding cache saves, side by side in one run: Sluice (1 worker,
 * `EMBEDDINGS_CACHE_MB` set) ingests the documents into a first collection with the cache empty,
 * then the same documents into a second collection, against the same endpoint.
 */
export interface EmbedCacheResult {
  cacheMb: number;
  cold: EmbedCachePass;
  warm: EmbedCachePass;
  /** Share of the cold pass's tokens the warm pass did not send. */
  tokensSaved: number;
  /** Cold seconds ÷ warm seconds. */
  speedup: number;
}

/** Everything the benchmark measured. */
export interface EmbedBenchResult {
  benchmark: 'embed';
  label: string;
  machine: Record<string, unknown>;
  loadAverage: { start: number[]; end: number[] };
  options: Omit<EmbedBenchOptions, 'log'>;
  corpus: {
    documents: number;
    chunks: number;
    tokens: number;
    tutorialDocuments: number;
    tutorialChunks: number;
    tutorialTokens: number;
    tokenEstimate: string;
  };
  limits: EmbedLimits;
  server: Omit<EmbeddingServerOptions, 'port'>;
  contenders: Partial<Record<EmbedContender, EmbedContenderSummary>>;
  /** SPEC's targets: `utilisation`, `sluiceVsLangchain`, `failedJobs`, `http429Share`. */
  ratios: Record<string, { value: number; target: string; met: boolean | undefined; note?: string }>;
  /** The embedding cache's savings (when `cache` was asked for). */
  cache?: EmbedCacheResult;
  runs: EmbedRun[];
  /** The table printed on stdout. */
  table: string;
}

/** The limits for a corpus of `tokens` tokens (see the module comment). */
export function embedLimits(tokens: number, targetSeconds: number, windowSeconds: number): EmbedLimits {
  const tpm = Math.ceil((tokens / targetSeconds) * 60);
  const rpm = Math.ceil(tpm / TOKENS_PER_REQUEST_AT_BALANCE);
  const window = Math.max(windowSeconds, Math.ceil((60 * 2 * LARGEST_REQUEST_TOKENS) / tpm));
  return {
    rpm,
    tpm,
    windowSeconds: window,
    windowBudget: {
      requests: Math.max(1, Math.floor((rpm * window) / 60)),
      tokens: Math.max(1, Math.floor((tpm * window) / 60)),
    },
  };
}

/** How close a run with these counters came to the limits. */
export function endpointUse(stats: EmbeddingServerStats, seconds: number, limits: EmbedLimits): EndpointUse {
  const tokens = stats.tokens / seconds / (limits.tpm / 60);
  const requests = stats.succeeded / seconds / (limits.rpm / 60);
  const binding = tokens >= requests ? 'tokens' : 'requests';
  return {
    tokens,
    requests,
    binding,
    utilisation: Math.max(tokens, requests),
    http429Share: stats.requests ? stats.rateLimited.total / stats.requests : 0,
  };
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 500);

/** Runs the benchmark, prints its table and (with `write`) writes its JSON under bench/results/. */
export async function runEmbedBench(options: EmbedBenchOptions): Promise<EmbedBenchResult> {
  const { log } = options;
  const loadStart = await loadAverage();
  const tmp = await mkdtemp(join(tmpdir(), 'sluice-bench-embed-'));
  const services = await startBenchServices(options);
  const { redisUrl, chromaUrl } = services;
  const client = chromaClient(chromaUrl);
  const runs: EmbedRun[] = [];
  try {
    log('planning the corpus (parse + split with Sluice, not timed)…');
    const planned = await planCorpus(await listCorpus(options.corpus), join(tmp, 'plan'));
    const docs = planned.docs;
    const tokensOf = (list: readonly BenchDocument[]) =>
      list.reduce(
        (n, d) => n + (planned.chunks.get(d.docId) ?? []).reduce((m, c) => m + estimateTokens(c.text), 0),
        0,
      );
    const chunksOf = (list: readonly BenchDocument[]) =>
      list.reduce((n, d) => n + (planned.chunks.get(d.docId)?.length ?? 0), 0);
    const tutorialDocs = sample(docs, Math.max(1, Math.round(planned.totalChunks / options.tutorialChunks)));
    const corpus: EmbedBenchResult['corpus'] = {
      documents: docs.length,
      chunks: planned.totalChunks,
      tokens: tokensOf(docs),
      tutorialDocuments: tutorialDocs.length,
      tutorialChunks: chunksOf(tutorialDocs),
      tutorialTokens: tokensOf(tutorialDocs),
      tokenEstimate: 'ceil(characters / 4) per input, as the server counts',
    };
    const limits = embedLimits(corpus.tokens, options.targetSeconds, options.windowSeconds);
    const serverOptions: EmbeddingServerOptions = {
      ...options.server,
      rpm: limits.rpm,
      tpm: limits.tpm,
      windowSeconds: limits.windowSeconds,
    };
    log(
      `corpus: ${corpus.documents} documents, ${corpus.chunks} chunks, ${corpus.tokens} tokens; ` +
        `limits ${limits.tpm} TPM, ${limits.rpm} RPM over a ${limits.windowSeconds} s window; ` +
        `tutorial sample ${corpus.tutorialDocuments} documents / ${corpus.tutorialChunks} chunks`,
    );

    for (let round = 0; round < options.rounds; round++) {
      const order = EMBED_CONTENDERS.map((_, i) => EMBED_CONTENDERS[(i + round) % EMBED_CONTENDERS.length]!);
      log(`round ${round + 1}/${options.rounds}: ${order.join(', ')}`);
      for (const contender of order) {
        const collection = uniqueName(`bench-embed-${contender}`);
        await using server = await startEmbeddingServer(serverOptions);
        const list = contender === 'tutorial' ? tutorialDocs : docs;
        const outcome = await runContender(contender, server, collection, list);
        const stored = await countRecords(client, collection);
        const stats = server.stats();
        const run: EmbedRun = {
          round,
          contender,
          ...outcome,
          chunks: chunksOf(list),
          stored,
          chunksPerSecond: stored / outcome.seconds,
          server: stats,
          use: endpointUse(stats, outcome.seconds, limits),
        };
        runs.push(run);
        log(
          `  ${contender.padEnd(10)} ${fmt(run.seconds, 1)} s, ${fmt(run.chunksPerSecond)} chunks/s, ` +
            `${stats.requests} requests, ${stats.tokens} tokens, ${stats.rateLimited.total} × 429, ` +
            `utilisation ${fmt(run.use.utilisation, 2)} (${run.use.binding}), failed ${run.failed}` +
            (stored === run.chunks ? '' : `, stored ${stored}/${run.chunks}`) +
            (run.error ? ` — ${run.error}` : ''),
        );
        await dropCollection(client, collection);
      }
    }

    const cache = options.cache ? await measureCache(serverOptions, docs) : undefined;
    const result = summarizeRuns({
      label: options.label,
      machine: await machine(),
      loadAverage: { start: loadStart, end: await loadAverage() },
      options: { ...options, log: undefined } as unknown as Omit<EmbedBenchOptions, 'log'>,
      corpus,
      limits,
      server: serverOptions,
      runs,
      ...(cache ? { cache } : {}),
    });
    log(result.table);
    if (options.write) log(`  written to ${await writeResult('embed', result)}`);
    return result;
  } finally {
    await closeBenchParsePool();
    await services.stop();
    await rm(tmp, { recursive: true, force: true });
  }

  type Outcome = Pick<EmbedRun, 'seconds' | 'failed' | 'jobRetries' | 'error'>;

  async function measureCache(
    serverOptions: EmbeddingServerOptions,
    docs: readonly BenchDocument[],
  ): Promise<EmbedCacheResult> {
    const cacheMb = 64;
    log(
      `embedding cache: Sluice, 1 worker, EMBEDDINGS_CACHE_MB=${cacheMb}: the documents into two collections`,
    );
    await using server = await startEmbeddingServer(serverOptions);
    await using stack = await startStack({ label: 'bench-embed-cache', redis: redisUrl, chroma: chromaUrl });
    const workers = await startWorkers(stack, {
      count: 1,
      env: { ...sluiceEnv(server), EMBEDDINGS_CACHE_MB: String(cacheMb) },
    });
    const sdk = sluiceClient(stack);
    const passes: EmbedCachePass[] = [];
    try {
      for (const pass of ['cold', 'warm']) {
        const collection = uniqueName(`bench-embed-cache-${pass}`);
        const before = server.stats();
        const phase = await runSluicePhase(sdk, pass, collection, docs, { tolerateFailures: true });
        const after = server.stats();
        passes.push({
          seconds: phase.seconds,
          requests: after.requests - before.requests,
          tokens: after.tokens - before.tokens,
          failed: phase.failed,
          stored: await countRecords(client, collection),
        });
        await dropCollection(client, collection);
        const p = passes.at(-1)!;
        log(
          `  ${pass}: ${fmt(p.seconds, 1)} s, ${p.requests} requests, ${p.tokens} tokens to the endpoint, ` +
            `${p.stored} stored, failed ${p.failed}`,
        );
      }
    } finally {
      await sdk.close();
      await workers.stop();
    }
    const [cold, warm] = passes as [EmbedCachePass, EmbedCachePass];
    return {
      cacheMb,
      cold,
      warm,
      tokensSaved: cold.tokens ? 1 - warm.tokens / cold.tokens : 0,
      speedup: cold.seconds / warm.seconds,
    };
  }

  /** A Sluice worker's environment against `server`, as a user configures it. */
  function sluiceEnv(server: EmbeddingServer): Record<string, string> {
    return {
      EMBEDDINGS: 'openai',
      EMBEDDINGS_URL: server.baseUrl,
      EMBEDDINGS_MODEL: MODEL,
      EMBEDDINGS_API_KEY: API_KEY,
      // The fleet-wide limiter's budget (workers that predate it ignore these).
      EMBEDDINGS_RPM: String(server.options.rpm),
      EMBEDDINGS_TPM: String(server.options.tpm),
      ...options.workerEnv,
    };
  }

  async function runContender(
    contender: EmbedContender,
    server: EmbeddingServer,
    collection: string,
    docs: readonly BenchDocument[],
  ): Promise<Outcome> {
    switch (contender) {
      case 'langchain': {
        // As a user configures it for an OpenAI-compatible endpoint; every other setting default
        // (batches of 512 texts, 2 requests at once, 6 retries honouring Retry-After).
        const embeddings = new OpenAIEmbeddings({
          model: MODEL,
          apiKey: API_KEY,
          configuration: { baseURL: server.baseUrl },
        });
        const indexer = new LangChainIndexer(chromaUrl, collection, embeddings);
        return timed(() => indexer.run('first', docs));
      }
      case 'tutorial': {
        // The OpenAI SDK with its defaults (2 retries honouring retry-after-ms / Retry-After).
        const openai = new OpenAI({ baseURL: server.baseUrl, apiKey: API_KEY });
        const chromaCollection = await createBenchCollection(client, collection);
        return timed(() =>
          runTutorial(chromaCollection, docs, async (text) => {
            const response = await openai.embeddings.create({ model: MODEL, input: text });
            return response.data[0]!.embedding;
          }),
        );
      }
      case 'sluice-1':
      case 'sluice-2': {
        await using stack = await startStack({
          label: `bench-embed-${contender}`,
          redis: redisUrl,
          chroma: chromaUrl,
        });
        const workers = await startWorkers(stack, {
          count: contender === 'sluice-2' ? 2 : 1,
          env: sluiceEnv(server),
        });
        const sdk = sluiceClient(stack);
        try {
          const phase = await runSluicePhase(sdk, 'first', collection, docs, { tolerateFailures: true });
          let jobRetries = 0;
          for (const jobId of phase.jobs.values()) {
            jobRetries += Math.max(0, (await sdk.status(jobId)).attempts - 1);
          }
          return { seconds: phase.seconds, failed: phase.failed, jobRetries };
        } finally {
          await sdk.close();
          await workers.stop();
        }
      }
    }
  }
}

/** Times a contender that stops at its first error, as a script does. */
async function timed(
  work: () => Promise<unknown>,
): Promise<{ seconds: number; failed: number; error?: string }> {
  const started = performance.now();
  try {
    await work();
    return { seconds: (performance.now() - started) / 1000, failed: 0 };
  } catch (err) {
    return { seconds: (performance.now() - started) / 1000, failed: 1, error: message(err) };
  }
}

const pct = (share: number) => `${fmt(share * 100, 1)} %`;

type Collected = Pick<
  EmbedBenchResult,
  'label' | 'machine' | 'loadAverage' | 'options' | 'corpus' | 'limits' | 'server' | 'runs' | 'cache'
>;

function summarizeRuns(c: Collected): EmbedBenchResult {
  const contenders: EmbedBenchResult['contenders'] = {};
  for (const contender of EMBED_CONTENDERS) {
    const runs = c.runs.filter((r) => r.contender === contender);
    if (!runs.length) continue;
    const sum = (pick: (r: EmbedRun) => number) => runs.reduce((n, r) => n + pick(r), 0);
    const requests = sum((r) => r.server.requests);
    const http429 = sum((r) => r.server.rateLimited.total);
    const tokenBound = runs.filter((r) => r.use.binding === 'tokens').length;
    contenders[contender] = {
      chunksPerSecond: summarize(runs.map((r) => r.chunksPerSecond)),
      seconds: summarize(runs.map((r) => r.seconds)),
      utilisation: summarize(runs.map((r) => r.use.utilisation)),
      binding: tokenBound * 2 >= runs.length ? 'tokens' : 'requests',
      requests,
      tokens: sum((r) => r.server.tokens),
      http429,
      http429Share: requests ? http429 / requests : 0,
      failed: sum((r) => r.failed),
      complete: runs.every((r) => r.stored === r.chunks),
    };
  }
  const ratios: EmbedBenchResult['ratios'] = {};
  const sluice = (['sluice-1', 'sluice-2'] as const).filter((k) => contenders[k]);
  if (sluice.length) {
    // Sluice's best configuration: one that meets the whole utilisation target if any does, and
    // among those (or else among all) the higher median utilisation.
    const meets = (k: EmbedContenderSummary) =>
      k.utilisation.median >= 0.9 && k.failed === 0 && k.http429Share <= 0.05;
    const rank = (k: EmbedContenderSummary) => (meets(k) ? 1 : 0) * 10 + k.utilisation.median;
    const best = sluice.reduce((a, b) => (rank(contenders[b]!) > rank(contenders[a]!) ? b : a));
    const s = contenders[best]!;
    const window = c.limits.windowSeconds;
    const note =
      `Sluice's best configuration: ${best}` +
      (s.seconds.median < 3 * window
        ? `; runs shorter than 3 windows (${window} s): the first window's burst inflates utilisation`
        : '');
    const failedJobs = sluice.reduce((n, k) => n + contenders[k]!.failed, 0);
    ratios.utilisation = {
      value: s.utilisation.median,
      target: `≥ 0.9 of the binding limit (${s.binding}), with 0 failed jobs and 429s ≤ 5 % of requests`,
      met: meets(s),
      note,
    };
    ratios.failedJobs = { value: failedJobs, target: '0 (every Sluice run)', met: failedJobs === 0 };
    ratios.http429Share = { value: s.http429Share, target: '≤ 0.05', met: s.http429Share <= 0.05, note };
    const lc = contenders.langchain;
    if (lc) {
      const value = s.chunksPerSecond.median / lc.chunksPerSecond.median;
      ratios.sluiceVsLangchain = {
        value,
        target: '≥ 1.0',
        met: value >= 1,
        note: `${note}${lc.complete ? '' : '; LangChain did not store every chunk (its rate counts what it stored)'}`,
      };
    }
  }
  const partial = { contenders, ratios };
  return { benchmark: 'embed', ...c, ...partial, table: renderTable(c, partial) };
}

function renderTable(c: Collected, s: Pick<EmbedBenchResult, 'contenders' | 'ratios'>): string {
  const labels: Record<EmbedContender, string> = {
    langchain: 'LangChain index() + OpenAIEmbeddings (defaults)',
    tutorial: `tutorial loop, OpenAI SDK, one request + add per chunk (${c.corpus.tutorialChunks}-chunk sample)`,
    'sluice-1': 'Sluice, 1 worker process',
    'sluice-2': 'Sluice, 2 worker processes',
  };
  const rows: string[][] = [];
  for (const contender of EMBED_CONTENDERS) {
    const k = s.contenders[contender];
    if (!k) continue;
    rows.push([
      labels[contender],
      `${fmt(k.seconds.median, 1)} s`,
      `${fmt(k.chunksPerSecond.median)} (±${fmt(k.chunksPerSecond.spread * 100)} %)`,
      String(k.requests),
      String(k.tokens),
      String(k.http429),
      pct(k.http429Share),
      String(k.failed) + (k.complete ? '' : ' (incomplete)'),
      `${fmt(k.utilisation.median, 2)} (${k.binding})`,
    ]);
  }
  const ratioRows = Object.entries(s.ratios).map(([name, r]) => [
    name,
    name === 'failedJobs' ? String(r.value) : name === 'http429Share' ? pct(r.value) : `${fmt(r.value, 2)}×`,
    r.target,
    r.met === undefined ? 'report' : r.met ? 'met' : 'NOT met',
    r.note ?? '',
  ]);
  const load = c.loadAverage;
  const l = c.limits;
  return [
    `embed benchmark (${c.label}): ${c.corpus.documents} Markdown documents, ${c.corpus.chunks} chunks, ${c.corpus.tokens} tokens (${c.corpus.tokenEstimate}); ` +
      `${c.options.rounds} round(s), contenders alternating; limits ${l.tpm} TPM and ${l.rpm} RPM over a ${l.windowSeconds} s sliding window ` +
      `(${l.windowBudget.tokens} tokens, ${l.windowBudget.requests} requests per window); ` +
      `load average ${load.start.map((n) => n.toFixed(2)).join(' ')} at start, ${load.end.map((n) => n.toFixed(2)).join(' ')} at end`,
    formatTable(
      [
        'contender',
        'wall (median)',
        'chunks/s (spread)',
        'requests',
        'tokens',
        '429s',
        '429 share',
        'failed',
        'utilisation (binding limit)',
      ],
      rows,
    ),
    '',
    formatTable(['ratio', 'value', 'target', 'verdict', 'note'], ratioRows),
    ...(c.cache ? ['', cacheTable(c.cache)] : []),
  ].join('\n');
}

function cacheTable(cache: EmbedCacheResult): string {
  const row = (name: string, p: EmbedCachePass) => [
    name,
    `${fmt(p.seconds, 1)} s`,
    String(p.requests),
    String(p.tokens),
    `${p.stored}`,
    String(p.failed),
  ];
  return [
    `embedding cache (Sluice, 1 worker, EMBEDDINGS_CACHE_MB=${cache.cacheMb}): the same documents into two collections; ` +
      `tokens saved ${pct(cache.tokensSaved)}, second collection ${fmt(cache.speedup, 1)}× faster`,
    formatTable(
      ['pass', 'wall', 'requests', 'tokens sent', 'stored', 'failed'],
      [row('first collection (cache empty)', cache.cold), row('second collection (same texts)', cache.warm)],
    ),
  ].join('\n');
}
