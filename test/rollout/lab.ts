import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DocumentQueue, createRedisConnection, type IngestRequest } from '@sluice/core/queue';
import { ChromaStore, auditCollection, driftOf } from '@sluice/ingest';
import { API_MAIN, WORKER_MAIN, startStack, type TestStack } from '../support/stack.js';
import {
  API_DEPLOYMENT,
  WORKER_DEPLOYMENT,
  loadDeploymentSpec,
  type DeploymentSpec,
} from './deployment-spec.js';
import { compareChunks, jobOutcomes, workerEvidence, type ExpectedDocument } from './evidence.js';
import type { FaultRecord } from './faults.js';
import type { PodObserver, PodTemplate } from './replica-set.js';
import type { LabForm, ScenarioReport } from './report.js';
import { Deployment, type RolloutResult, type TimingOverrides } from './rolling-update.js';
import { ExpectedChunks, feed, submitSpread, type CorpusSelection, type Submission } from './workload.js';

/** SPEC › Time to resume: how soon a job handed back on SIGTERM runs on another worker. */
const RESUME_AFTER_HAND_BACK_MS = 1000;
/** SPEC › Time to resume: how soon the job of a SIGKILLed worker runs on another, by default. */
const RESUME_AFTER_KILL_MS = 15_000;

/** Chunks one pipeline batch embeds and writes (IngestPipeline's default): the unit of redone work. */
export const BATCH_SIZE = 256;

/**
 * How a form of the lab runs. The full form keeps every timing of the manifests and the
 * configuration's defaults and ingests the whole corpus (scenario 1) or a third of its Markdown
 * (the fault scenarios); the short form compresses the waits
 * that only cost time, so that all scenarios fit in a few minutes of `pnpm test`.
 */
export interface LabProfile {
  readonly form: LabForm;
  /** Worker replicas (the manifest leaves the count to KEDA). */
  readonly workerReplicas: number;
  readonly timing: TimingOverrides;
  readonly apiTiming: TimingOverrides;
  /** Worker variables on top of the manifest's. */
  readonly workerEnv: Readonly<Record<string, string>>;
  /** API variables on top of the manifest's. */
  readonly apiEnv: Readonly<Record<string, string>>;
  /** What scenario 1 ingests, and where scenarios 5 and 6 take their Markdown from. */
  readonly corpus: CorpusSelection;
  /** What the fault scenarios (2, 3, 4, 7, 8) ingest. */
  readonly faultCorpus: CorpusSelection;
  /** Jobs the producer keeps unfinished while a rollout or fault sequence runs. */
  readonly outstanding: number;
  /** How long ingestion runs before the first rollout or fault. */
  readonly warmupMs: number;
  /** How long a scenario may wait for its jobs to settle. */
  readonly settleTimeoutMs: number;
}

const SHORT_CORPUS: CorpusSelection = {
  markdown: ['markdown/en/docs/concepts/workloads', 'markdown/en/docs/concepts/services-networking'],
  // freeculture.pdf: 944 chunks in 4 batches, long enough to be preempted mid-document.
  pdfs: ['pdkids.pdf', 'bitcoin.pdf', 'freeculture.pdf'],
};

/** The two forms of the lab. */
export const PROFILES: Readonly<Record<LabForm, LabProfile>> = {
  short: {
    form: 'short',
    workerReplicas: 3,
    timing: { probePeriodMs: 250, minReadyMs: 500, restartBackoffMs: 1000 },
    apiTiming: { probePeriodMs: 250, minReadyMs: 500, preStopMs: 1000 },
    workerEnv: {
      WORKER_CONCURRENCY: '2',
      DRAIN_TIMEOUT_MS: '2000',
      LOCK_DURATION_MS: '2000',
      STALLED_INTERVAL_MS: '500',
    },
    apiEnv: { SHUTDOWN_DELAY_MS: '1000' },
    corpus: SHORT_CORPUS,
    faultCorpus: SHORT_CORPUS,
    outstanding: 4,
    warmupMs: 1000,
    settleTimeoutMs: 90_000,
  },
  full: {
    form: 'full',
    workerReplicas: 3,
    timing: {},
    apiTiming: {},
    workerEnv: {},
    // The API rollout's load is one token sending about 3,400 requests a minute, above the
    // per-token default (3,000): the scenario measures the drain, not the rate limit.
    apiEnv: { RATE_LIMIT_PER_MINUTE: '1000000' },
    corpus: { markdown: 'all', pdfs: 'all' },
    // A third of the Markdown and every good PDF: the whole corpus in each of them would take
    // the run past 15 minutes (Chroma writes about 110 chunks/s of small documents here).
    faultCorpus: { markdown: 'all', pdfs: 'all', markdownEvery: 3 },
    outstanding: 12,
    warmupMs: 5000,
    settleTimeoutMs: 600_000,
  },
};

/** Where a lab's dependencies are and how it reports. */
export interface LabSettings {
  readonly profile: LabProfile;
  /** Redis for scenarios that do not bring their own. */
  readonly redisUrl: string;
  /** Chroma for scenarios that do not bring their own. */
  readonly chromaUrl: string;
  /** Seed of the random faults. */
  readonly seed: number;
  /** Prints the controller's events (pods created, ready, deleted, exited). */
  readonly log?: (line: string) => void;
  /** Where to keep every container's output (`<dir>/<scenario>/<pod>.<n>.log`); not kept without it. */
  readonly logDir?: string;
}

/** What {@link Lab.report} adds up, besides what it reads from the workers and the store. */
export interface ReportInput {
  readonly scenario: string;
  readonly guarantees: string;
  readonly submissions: readonly Submission[];
  readonly refused: number;
  /** The chunks that must be stored, exactly. */
  readonly expected: readonly ExpectedDocument[];
  readonly rollouts: readonly RolloutResult[];
  readonly faults?: readonly FaultRecord[];
  readonly api?: ScenarioReport['api'];
  /**
   * Failed jobs that are the expected outcome (hostile files), by job ID → code; besides the
   * documents whose `expected` entry names a failure.
   */
  readonly expectedFailures?: ReadonlyMap<string, string>;
  /** Jobs allowed to spend more than one attempt (a dependency was down). @defaultValue false */
  readonly retriesAllowed?: boolean;
  /**
   * Checks SPEC's bound on redone work: a job writes at most one batch ({@link BATCH_SIZE}
   * chunks) more than its chunk count per time it was preempted or its worker SIGKILLed.
   * @defaultValue false
   */
  readonly boundRedoneWork?: boolean;
  readonly violations?: readonly string[];
  readonly notes?: readonly string[];
}

/**
 * One scenario's world, held by a {@link TestStack} (its own queue prefix, storage directory and
 * collection on the given Redis and Chroma, their environment and clean-up), and the Deployments
 * it starts. Everything it starts is killed by {@link Lab.close}.
 */
export class Lab {
  /** Labs opened and not yet closed. */
  static readonly #open = new Set<Lab>();
  readonly name: string;
  readonly settings: LabSettings;
  readonly profile: LabProfile;
  /** The scenario's world: prefix, storage, Redis and Chroma, process environment, clean-up. */
  readonly stack: TestStack;
  readonly prefix: string;
  readonly collection: string;
  readonly storageDir: string;
  readonly redisUrl: string;
  readonly chromaUrl: string;
  readonly documents: DocumentQueue;
  readonly store: ChromaStore;
  readonly workerSpec: DeploymentSpec;
  readonly expected: ExpectedChunks;
  readonly startedAt = Date.now();
  readonly #connection: ReturnType<typeof createRedisConnection>;
  readonly #deployments: Deployment[] = [];

  private constructor(name: string, settings: LabSettings, stack: TestStack) {
    this.name = name;
    this.settings = settings;
    this.profile = settings.profile;
    this.stack = stack;
    this.redisUrl = stack.redisUrl;
    this.chromaUrl = stack.chromaUrl;
    this.prefix = stack.prefix;
    this.collection = stack.collection(name);
    this.storageDir = stack.storageDir;
    this.#connection = createRedisConnection({
      url: stack.redisUrl,
      role: 'producer',
      connectionName: 'rollout-lab',
    });
    this.#connection.on('error', () => undefined);
    this.documents = new DocumentQueue({ connection: this.#connection, prefix: this.prefix });
    // Refused commands surface where the lab calls them; the queue's own copy is noise.
    this.documents.queue.on('error', () => undefined);
    this.store = new ChromaStore({ url: stack.chromaUrl, dimensions: 384 });
    this.workerSpec = loadDeploymentSpec(WORKER_DEPLOYMENT);
    this.expected = new ExpectedChunks(stack.storageDir, this.workerEnv());
  }

  /**
   * Opens a scenario's world on the settings' Redis and Chroma, or on the ones given (a URL, or
   * `'dedicated'` for a server of the world's own: {@link TestStack.redisServer},
   * {@link TestStack.chromaServer}). The given `stop`s run in {@link Lab.close}, or at once when
   * the world cannot be opened.
   */
  static async open(
    name: string,
    settings: LabSettings,
    deps: { redis?: string; chroma?: string; stop?: readonly (() => Promise<unknown>)[] } = {},
  ): Promise<Lab> {
    let stack: TestStack | undefined;
    try {
      stack = await startStack({
        label: name,
        redis: deps.redis ?? settings.redisUrl,
        chroma: deps.chroma ?? settings.chromaUrl,
      });
      for (const stop of deps.stop ?? []) stack.defer(stop);
      const lab = new Lab(name, settings, stack);
      Lab.#open.add(lab);
      return lab;
    } catch (err) {
      if (stack) await stack.stop();
      else await Promise.allSettled((deps.stop ?? []).map((stop) => stop()));
      throw err;
    }
  }

  /**
   * Closes every lab still open, e.g. after a scenario timed out in a test or the CLI was
   * interrupted, so that no process outlives the run.
   */
  static async closeAll(): Promise<void> {
    await Promise.allSettled([...Lab.#open].map((lab) => lab.close()));
  }

  /** Runs `cleanup` at the end of {@link Lab.close} (last registered first). */
  defer(cleanup: () => Promise<unknown>): void {
    this.stack.defer(cleanup);
  }

  /** The release marker of version `n`: the manifest's version label, then `-r1`, `-r2`, … */
  release(n: number): string {
    return n === 0 ? this.workerSpec.version : `${this.workerSpec.version}-r${n}`;
  }

  /** A worker's environment: the manifest's, pointed at this lab's world by its stack. */
  workerEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
    return {
      ...this.workerSpec.env,
      ...this.stack.workerEnv(),
      // The per-batch lines are how redone work is measured.
      LOG_LEVEL: 'debug',
      ...this.profile.workerEnv,
      ...extra,
    };
  }

  /** The pod template of one worker version. */
  workerTemplate(
    release: string,
    options: Pick<PodTemplate, 'podEnv'> & { env?: Record<string, string> } = {},
  ): PodTemplate {
    return {
      release,
      script: WORKER_MAIN,
      env: this.workerEnv(options.env),
      portVariable: probedVariable(this.workerSpec, 'HEALTH_PORT'),
      ...(options.podEnv ? { podEnv: options.podEnv } : {}),
    };
  }

  /** The worker Deployment at its first version, started and available. */
  async workers(
    options: { replicas?: number; template?: PodTemplate; observer?: PodObserver } = {},
  ): Promise<Deployment> {
    const deployment = new Deployment({
      spec: this.workerSpec,
      replicas: options.replicas ?? this.profile.workerReplicas,
      template: options.template ?? this.workerTemplate(this.release(0)),
      timing: this.profile.timing,
      observer: this.#observer(options.observer),
    });
    this.#deployments.push(deployment);
    await deployment.start();
    return deployment;
  }

  /** The API Deployment (its manifest's replica count) at its first version, started and available. */
  async apis(options: { observer?: PodObserver; replicas?: number } = {}): Promise<Deployment> {
    const spec = loadDeploymentSpec(API_DEPLOYMENT);
    const deployment = new Deployment({
      spec,
      ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
      template: this.apiTemplate(spec, spec.version),
      timing: this.profile.apiTiming,
      observer: this.#observer(options.observer),
    });
    this.#deployments.push(deployment);
    await deployment.start();
    return deployment;
  }

  /**
   * The pod template of one API version: the manifest's environment, pointed at this lab's world
   * by its stack (whose `AUTH_JWT_SECRET` replaces the manifest Secret's placeholder).
   */
  apiTemplate(spec: DeploymentSpec, release: string): PodTemplate {
    return {
      release,
      script: API_MAIN,
      env: {
        ...spec.env,
        HOST: '127.0.0.1',
        ...this.stack.apiEnv({ LOG_LEVEL: 'warn' }),
        ...this.profile.apiEnv,
        // Several API pods share this machine: each its own metrics port.
        METRICS_PORT: '0',
      },
      portVariable: probedVariable(spec, 'PORT'),
    };
  }

  /** Submits requests spread evenly over `spreadMs`. */
  async submit(requests: readonly IngestRequest[], spreadMs: number) {
    return submitSpread(this.documents, requests, { spreadMs });
  }

  /**
   * Keeps the profile's number of jobs unfinished until `until` settles and every request was
   * submitted once (see {@link feed}).
   */
  async feed(requests: readonly IngestRequest[], until: Promise<unknown>) {
    return feed(this.documents, requests, { outstanding: this.profile.outstanding, until });
  }

  /**
   * Waits until no job of the queue is waiting, active or delayed, and every given job has
   * finished.
   */
  async settle(jobIds: Iterable<string>, timeoutMs = this.profile.settleTimeoutMs): Promise<void> {
    const ids = [...new Set(jobIds)];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const counts = await this.documents.queue
        .getJobCounts('waiting', 'active', 'delayed', 'prioritized')
        .catch(() => undefined);
      if (counts && Object.values(counts).every((n) => n === 0)) {
        const outcomes = await jobOutcomes(this.documents, ids).catch(() => undefined);
        if (outcomes && outcomes.unfinished === 0) return;
      }
      if (Date.now() > deadline) return;
      await sleep(500);
    }
  }

  /** Every worker pod of every Deployment this lab started. */
  pods() {
    return this.#deployments.filter((d) => d.spec.name === WORKER_DEPLOYMENT).flatMap((d) => d.pods());
  }

  /**
   * Gathers the evidence (jobs, stored chunks, worker logs, rollouts) and checks the guarantees
   * every scenario shares: each job completed (or failed as expected), without spending an
   * attempt unless allowed; stored chunks exactly as expected; no worker exiting with an error.
   */
  async report(input: ReportInput): Promise<ScenarioReport> {
    const jobIds = input.submissions.map((s) => s.jobId);
    const [outcomes, chunks] = [
      await jobOutcomes(this.documents, jobIds),
      await compareChunks(this.store, this.collection, input.expected),
    ];
    const logs = workerEvidence(this.pods());
    const violations = [...(input.violations ?? [])];
    // G8: after every scenario, Chroma holds exactly what Sluice recorded, chunk by chunk.
    const audit = await auditCollection({
      store: this.store,
      documents: this.documents,
      collection: this.collection,
    });
    if (driftOf(audit) > 0) {
      violations.push(
        `the audit found drift: ${audit.missing} missing, ${audit.orphans} orphans, ${audit.stale} stale, ${audit.duplicates} duplicates`,
      );
    }
    // SPEC › Time to resume: a job handed back runs again within 1 s, a SIGKILLed worker's within 15 s.
    const handBackMax = maxOf(logs.resumeAfterPreemptionMs);
    if (handBackMax !== undefined && handBackMax > RESUME_AFTER_HAND_BACK_MS) {
      violations.push(
        `a job handed back ran again only after ${(handBackMax / 1000).toFixed(1)} s (SPEC: within 1 s)`,
      );
    }
    const killMax = maxOf(logs.resumeAfterKillMs);
    if (killMax !== undefined && killMax > RESUME_AFTER_KILL_MS) {
      violations.push(
        `a SIGKILLed worker's job ran again only after ${(killMax / 1000).toFixed(1)} s (SPEC: within 15 s)`,
      );
    }
    const expectedFailures = new Map(input.expectedFailures);
    const failureOf = new Map(
      input.expected.flatMap((d) => (d.failure ? [[d.docId, d.failure] as const] : [])),
    );
    for (const { jobId, request } of input.submissions) {
      const failure = failureOf.get(request.docId);
      if (failure && !expectedFailures.has(jobId)) expectedFailures.set(jobId, failure);
    }
    for (const [jobId, status] of outcomes.statuses) {
      const wanted = expectedFailures.get(jobId);
      if (wanted !== undefined) {
        if (status?.state !== 'failed' || status.error?.code !== wanted) {
          violations.push(
            `job ${jobId} should fail with ${wanted}, but is ${status?.state} ${status?.error?.code ?? ''}`,
          );
        }
      } else if (status?.state !== 'completed') {
        violations.push(
          `job ${jobId} (${input.submissions.find((s) => s.jobId === jobId)?.request.docId}) is ${status?.state ?? 'gone'}` +
            (status?.error ? ` with ${status.error.code}: ${status.error.message}` : ''),
        );
      } else if (!input.retriesAllowed && status.attempts !== 1) {
        violations.push(
          `job ${jobId} completed after ${status.attempts} attempts (a preemption or stall spent one)`,
        );
      }
    }
    if (chunks.missing)
      violations.push(`${chunks.missing} expected chunks are missing (${chunks.wrongDocuments.join(', ')})`);
    if (chunks.extra)
      violations.push(
        `${chunks.extra} chunks are stored that a clean run does not produce (${chunks.wrongDocuments.join(', ')})`,
      );
    if (chunks.duplicates) violations.push(`${chunks.duplicates} chunks are stored twice`);
    // Per job, so that a batch one job wrote without logging it (its worker died, or its
    // preempted upsert went through after the abort) cannot hide another job's redone work.
    let redone = 0;
    for (const [jobId, status] of outcomes.statuses) {
      const chunksOfJob = status?.result?.chunks;
      if (chunksOfJob === undefined) continue;
      const again = Math.max(0, (logs.writtenByJob.get(jobId) ?? 0) - chunksOfJob);
      redone += again;
      const allowed = BATCH_SIZE * (logs.interruptionsByJob.get(jobId) ?? 0);
      if (input.boundRedoneWork && again > allowed) {
        violations.push(
          `job ${jobId} wrote ${again} of its ${chunksOfJob} chunks more than once; one batch per interruption allows ${allowed}`,
        );
      }
    }
    for (const exit of logs.unexpectedExits) violations.push(`worker ${exit}`);
    const terminations = input.rollouts.flatMap((r) => r.terminations);
    const exits: Record<string, number> = {};
    for (const t of terminations) {
      const key = t.signal ?? String(t.code);
      exits[key] = (exits[key] ?? 0) + 1;
    }
    const resumes = [
      ...(logs.resumeAfterPreemptionMs.length
        ? [`preempted jobs ran again after ${describeDelays(logs.resumeAfterPreemptionMs)}`]
        : []),
      ...(logs.resumeAfterKillMs.length
        ? [`jobs of SIGKILLed workers ran again after ${describeDelays(logs.resumeAfterKillMs)}`]
        : []),
    ];
    const notes = [
      ...(input.notes ?? []),
      ...(logs.inFlightAtSigterm
        ? [`${logs.inFlightAtSigterm} jobs were running in workers when they got SIGTERM`]
        : []),
      ...resumes,
      `audit: ${audit.documents} documents, ${audit.chunks} chunks, drift ${driftOf(audit)}` +
        (audit.inFlight ? ` (${audit.inFlight} documents still settling)` : ''),
      `collection ${this.collection}, prefix ${this.prefix}, seed ${this.settings.seed}`,
      `releases in the worker logs: ${logs.releases.join(', ')}`,
      ...Object.entries(logs.errors).map(([msg, n]) => `worker error lines: ${n}× "${msg}"`),
      ...(input.refused ? [`${input.refused} submissions refused and retried`] : []),
      ...(input.faults ?? []).map(
        (f) => `fault ${f.kind} on ${f.target}${f.downMs ? ` for ${f.downMs} ms` : ''}`,
      ),
    ];
    return {
      scenario: input.scenario,
      guarantees: input.guarantees,
      form: this.profile.form,
      violations,
      notes,
      durationMs: Date.now() - this.startedAt,
      documents: { submitted: input.submissions.length, refusedSubmissions: input.refused },
      jobs: {
        completed: outcomes.completed,
        failed: outcomes.failed,
        unfinished: outcomes.unfinished,
        preempted: logs.preempted,
        stalled: logs.stalled,
        interruptedByKill: logs.interruptedByKill,
        inFlightAtSigterm: logs.inFlightAtSigterm,
        maxAttempts: outcomes.maxAttempts,
        resumeAfterPreemptionMaxMs: maxOf(logs.resumeAfterPreemptionMs),
        resumeAfterKillMaxMs: maxOf(logs.resumeAfterKillMs),
      },
      chunks: {
        expected: chunks.expected,
        stored: chunks.stored,
        duplicates: chunks.duplicates,
        missing: chunks.missing,
        extra: chunks.extra,
        written: logs.chunksWritten,
        redone,
      },
      rollout: {
        count: input.rollouts.length,
        podsReplaced: terminations.length,
        durationMs: input.rollouts.reduce((sum, r) => sum + (r.completedAt - r.startedAt), 0),
        drainedMs: input.rollouts.reduce((sum, r) => sum + (r.drainedAt - r.startedAt), 0),
        killedAfterGrace: terminations.filter((t) => t.killedAfterGrace).length,
        exits,
      },
      faults: input.faults ?? [],
      ...(input.api ? { api: input.api } : {}),
    };
  }

  /**
   * Kills every pod, then stops the stack: empties the queue, drops the collection, removes the
   * storage, runs the registered cleanups (last registered first), which stop what the scenario
   * brought (relays, its Redis Cluster), and stops the world's dedicated Redis and Chroma.
   */
  async close(): Promise<void> {
    Lab.#open.delete(this);
    await Promise.allSettled(this.#deployments.map((d) => d.kill()));
    if (this.settings.logDir) {
      const dir = join(this.settings.logDir, this.name);
      await mkdir(dir, { recursive: true });
      for (const pod of this.#deployments.flatMap((d) => d.pods())) {
        for (const [n, container] of pod.containers.entries()) {
          await writeFile(join(dir, `${pod.name}.${n}.log`), container.output());
        }
      }
    }
    await this.documents.close().catch(() => undefined);
    this.#connection.disconnect();
    await this.stack.stop();
  }

  #observer(extra: PodObserver | undefined): PodObserver {
    const log = this.settings.log;
    return {
      endpointChanged: (pod, serving) => extra?.endpointChanged?.(pod, serving),
      event: (line) => {
        extra?.event?.(line);
        log?.(`[${this.name} +${((Date.now() - this.startedAt) / 1000).toFixed(1)}s] ${line}`);
      },
    };
  }
}

function maxOf(values: readonly number[]): number | undefined {
  return values.length ? Math.max(...values) : undefined;
}

function describeDelays(ms: readonly number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  return `${(median / 1000).toFixed(1)} s (median), ${((sorted.at(-1) ?? 0) / 1000).toFixed(1)} s (max) over ${sorted.length}`;
}

/**
 * The variable that sets the port the readiness probe reaches. The lab gives each pod its own
 * port, so it checks that the manifest's probe targets the port the process listens on.
 */
function probedVariable(spec: DeploymentSpec, variable: string): string {
  const configured = Number(spec.env[variable]);
  if (configured !== spec.readinessProbe.port) {
    throw new Error(
      `${spec.name}: the readiness probe targets port ${spec.readinessProbe.port}, but ${variable} is ${spec.env[variable]}`,
    );
  }
  return variable;
}
