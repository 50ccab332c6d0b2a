/**
 * Sluice as a user runs it: real worker processes (`services/worker/dist/main.js`, started by a
 * test stack), documents enqueued with the SDK in Redis mode (files copied into the workers'
 * `STORAGE_DIR`), then a wait for every job.
 */
import { SluiceClient, type DocumentJobResult } from '@sluice/sdk';
import type { TestStack } from '../test/support/stack.js';
import type { ServiceProcess } from '../test/support/processes.js';
import type { PhaseResult } from './contenders.js';
import type { BenchDocument } from './corpus.js';
import { processMemory } from './process-stats.js';

/** Options for {@link startWorkers}. */
export interface StartWorkersOptions {
  /** Worker processes. */
  count: number;
  /** Extra environment, e.g. `WORKER_CONCURRENCY` or shorter lock timings in the smoke test. */
  env?: Record<string, string>;
  /** Extra Node flags, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
}

/** A set of running worker processes. */
export interface WorkerSet {
  readonly processes: ServiceProcess[];
  readonly pids: number[];
  /** SIGKILLs every worker (a crash) and waits until they are gone. */
  kill(): Promise<void>;
  /** SIGTERMs every worker (a drain) and waits until they exited. */
  stop(): Promise<void>;
}

/**
 * Starts worker processes in a stack's world and waits until each reports ready on its health
 * port; the stack kills any still running when it is disposed of.
 */
export async function startWorkers(stack: TestStack, options: StartWorkersOptions): Promise<WorkerSet> {
  const processes = await Promise.all(
    Array.from({ length: options.count }, () =>
      // Production setting: info-level JSON logs on stdout.
      stack.startWorker({ LOG_LEVEL: 'info', ...options.env }, { nodeArgs: options.nodeArgs ?? [] }),
    ),
  );
  return {
    processes,
    pids: processes.map((p) => p.child.pid!),
    kill: async () => {
      await Promise.all(processes.map((p) => p.stop()));
    },
    stop: async () => {
      for (const p of processes) p.signal('SIGTERM');
      await Promise.all(processes.map((p) => p.exited));
    },
  };
}

/** One RSS sample of the workers, taken while a run progresses. */
export interface RssSample {
  /** Seconds since the sampler started. */
  t: number;
  /** Documents finished so far. */
  completed: number;
  /** Resident memory of each worker, MiB. */
  rssMiB: number[];
}

/** Samples the workers' resident memory together with the number of finished documents. */
export class RssSampler {
  readonly samples: RssSample[] = [];
  readonly #pids: readonly number[];
  readonly #completed: () => number;
  #timer: NodeJS.Timeout | undefined;
  #started = performance.now();

  constructor(pids: readonly number[], completed: () => number) {
    this.#pids = pids;
    this.#completed = completed;
  }

  /** Starts sampling every `intervalMs`. */
  start(intervalMs = 250): void {
    this.#started = performance.now();
    const take = async () => {
      const memory = await Promise.all(this.#pids.map((pid) => processMemory(pid)));
      this.samples.push({
        t: (performance.now() - this.#started) / 1000,
        completed: this.#completed(),
        rssMiB: memory.map((m) => Math.round((m?.rssMiB ?? 0) * 10) / 10),
      });
    };
    void take();
    this.#timer = setInterval(() => void take(), intervalMs);
  }

  /** Stops sampling and takes a last sample. */
  async stop(): Promise<RssSample[]> {
    clearInterval(this.#timer);
    const memory = await Promise.all(this.#pids.map((pid) => processMemory(pid)));
    this.samples.push({
      t: (performance.now() - this.#started) / 1000,
      completed: this.#completed(),
      rssMiB: memory.map((m) => Math.round((m?.rssMiB ?? 0) * 10) / 10),
    });
    return this.samples;
  }
}

/** A Redis-mode SDK client for a stack's world. */
export function sluiceClient(stack: Pick<TestStack, 'redisUrl' | 'prefix' | 'storageDir'>): SluiceClient {
  return new SluiceClient({ redisUrl: stack.redisUrl, prefix: stack.prefix, storageDir: stack.storageDir });
}

/** Options for {@link runSluicePhase}. */
export interface SluicePhaseOptions {
  /** Files sent at once (the CLI's default is 4). @defaultValue 8 */
  enqueueConcurrency?: number;
  /** Wait for every job, also those the queue deduplicated (a rerun after a crash). @defaultValue false */
  waitForDeduplicated?: boolean;
  /** Told when a document's job is finished (for RSS sampling). */
  onCompleted?: () => void;
  /** Per-job wait limit. @defaultValue 600000 */
  timeoutMs?: number;
  /** Collects the job ID of each docId as soon as it is enqueued (for a crash test). */
  jobs?: Map<string, string>;
  /** Count failed jobs instead of failing the phase (the memory run over the whole corpus). @defaultValue false */
  tolerateFailures?: boolean;
}

/**
 * `client.wait()`, asked again when it reports a completed job without a result: the SDK reads
 * the job's data before its state, so a job that completes in between looks completed but
 * empty (a race in `DocumentQueue.status`, reported to its owner); the next read is whole.
 */
export async function waitForJob(
  client: SluiceClient,
  jobId: string,
  timeoutMs: number,
): Promise<DocumentJobResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await client.wait(jobId, { timeoutMs });
    } catch (err) {
      const race = err instanceof Error && err.message.includes('completed without a readable result');
      if (!race || attempt >= 3) throw err;
    }
  }
}

/** The result of a Sluice phase, with the jobs it enqueued. */
export interface SluicePhaseResult extends PhaseResult {
  /** Job ID per docId. */
  jobs: Map<string, string>;
  /** Documents the queue answered as already done or under way. */
  deduplicated: number;
  /** Result per docId of the jobs waited for. */
  results: Map<string, DocumentJobResult>;
  /** Jobs that failed (only with `tolerateFailures`). */
  failed: number;
}

/**
 * Enqueues every document with the SDK and waits for the jobs; the time runs from the first
 * `ingest` call to the last job's end.
 */
export async function runSluicePhase(
  client: SluiceClient,
  phase: string,
  collection: string,
  docs: readonly BenchDocument[],
  options: SluicePhaseOptions = {},
): Promise<SluicePhaseResult> {
  const { enqueueConcurrency = 8, waitForDeduplicated = false, timeoutMs = 600_000 } = options;
  const jobs = options.jobs ?? new Map<string, string>();
  const results = new Map<string, DocumentJobResult>();
  const waits: Promise<void>[] = [];
  let deduplicated = 0;
  let failed = 0;
  const started = performance.now();
  let next = 0;
  const sender = async () => {
    while (next < docs.length) {
      const doc = docs[next++]!;
      const accepted = await client.ingest({ collection, docId: doc.docId, file: doc.path });
      jobs.set(doc.docId, accepted.jobId);
      if (accepted.deduplicated) deduplicated++;
      if (accepted.deduplicated && !waitForDeduplicated) {
        options.onCompleted?.();
        continue;
      }
      const waited = waitForJob(client, accepted.jobId, timeoutMs).then(
        (result) => {
          results.set(doc.docId, result);
          options.onCompleted?.();
        },
        (err: unknown) => {
          if (!options.tolerateFailures) throw err;
          failed++;
          options.onCompleted?.();
        },
      );
      // Handled here so that an early failure is not reported as unhandled; Promise.all rethrows it.
      waited.catch(() => undefined);
      waits.push(waited);
    }
  };
  await Promise.all(Array.from({ length: enqueueConcurrency }, sender));
  await Promise.all(waits);
  const seconds = (performance.now() - started) / 1000;
  const all = [...results.values()];
  const sum = (key: 'chunks' | 'embedded' | 'deleted') => all.reduce((n, r) => n + r[key], 0);
  return {
    phase,
    seconds,
    chunks: sum('chunks'),
    embedded: sum('embedded'),
    written: sum('embedded'),
    deleted: sum('deleted'),
    jobs,
    deduplicated,
    results,
    failed,
  };
}
