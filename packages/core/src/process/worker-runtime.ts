import { DelayedError, RateLimitError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { SluiceError, encodeFailure, isDependencyOutage, toSluiceError } from '../contract/errors.js';
import { parsePayload, type JobDefinition, type PayloadOf } from '../contract/job-definition.js';
import { DEFAULT_PREFIX, RUNTIME_DEFAULTS, type WorkerConfig } from '../contract/config.js';
import type { WorkerMetrics } from './metrics.js';

/** What a job handler gets besides its payload. */
export interface JobContext<TPayload> {
  /** The BullMQ job. */
  readonly job: Job<TPayload>;
  /** The payload, validated against the job's schema. */
  readonly payload: TPayload;
  /**
   * The fencing token of this attempt (BullMQ's lock token): unique per attempt, so that a
   * stalled twin of the job (an older attempt still running) can be told from the live one.
   */
  readonly token: string;
  /**
   * Aborted when the job must stop: the drain deadline passed (the runtime then hands the job
   * back without spending an attempt), or this attempt lost its BullMQ lock (another worker may
   * run the job now; this attempt must stop writing). Check it at safe points, e.g. between batches.
   */
  readonly signal: AbortSignal;
  /** A logger bound to the job's ID, name and queue. */
  readonly log: Logger;
  /** Stores the job's progress (shown by `GET /v1/jobs/:id`). */
  readonly progress: (value: Record<string, unknown>) => Promise<void>;
  /**
   * Puts the job back as delayed for `delayMs` without spending an attempt (e.g. while another
   * job holds the document's lock). Never returns: it throws BullMQ's `DelayedError`, which the
   * handler must let through.
   */
  readonly defer: (delayMs: number, reason: string) => Promise<never>;
}

/** Runs one job kind. The returned value becomes the job's result. */
export type JobHandler<TDef extends JobDefinition> = (
  context: JobContext<PayloadOf<TDef>>,
) => Promise<unknown>;

/** Lifecycle of a {@link WorkerRuntime}. */
export type WorkerState = 'starting' | 'ready' | 'draining' | 'closed';

/** Options for {@link WorkerRuntime}. Every field but `queue`, `connection` and `logger` has a default. */
export interface WorkerRuntimeOptions {
  /** The queue to consume. */
  queue: string;
  /** A `worker`-role connection from `createRedisConnection`; the runtime closes it on drain. */
  connection: Redis | Cluster;
  logger: Logger;
  /** BullMQ key prefix. @defaultValue `sluice` */
  prefix?: string;
  /** Jobs run at once. @defaultValue 4 */
  concurrency?: number;
  /** How long in-flight jobs may run after `drain()` before they are preempted. @defaultValue 20000 */
  drainTimeoutMs?: number;
  /**
   * After preemption, how long handlers get to reach their next safe point. A handler that
   * ignores its signal past this is abandoned: its lock expires and the stalled check returns
   * the job. @defaultValue 5000
   */
  abortGraceMs?: number;
  /**
   * How long a job's lock lives without renewal (renewed every half of it). Short enough that a
   * job whose worker was SIGKILLed is back in `wait` within `lockDurationMs + stalledIntervalMs`
   * (14 s by default, SPEC's 15 s); long enough that a busy event loop does not lose locks,
   * since CPU-heavy parsing runs in its own thread. BullMQ's 30 s default left a killed job
   * waiting about a minute. @defaultValue 10000
   */
  lockDurationMs?: number;
  /** How often this worker looks for jobs whose lock expired. @defaultValue 4000 */
  stalledIntervalMs?: number;
  /**
   * How many times a job may stall (lose its lock: crash, SIGKILL, OOM) before it fails.
   * BullMQ's default of 1 fails a job after two rough rollouts in a row; 5 still stops a job
   * that kills every worker it touches. @defaultValue 5
   */
  maxStalledCount?: number;
  /** How many times a job may be preempted without spending an attempt; after that a preemption counts as a failed attempt. @defaultValue 10 */
  maxPreemptions?: number;
  /**
   * After a dependency outage (Chroma, Redis or the embedder unreachable), how long the queue
   * pauses before a worker tries again; doubles while the outage lasts, up to
   * `outageBackoffMaxMs`. Jobs caught by the outage go back to wait without spending an attempt.
   * @defaultValue 1000
   */
  outageBackoffMs?: number;
  /** @defaultValue 30000 */
  outageBackoffMaxMs?: number;
  /** Metrics to update; none without it. */
  metrics?: WorkerMetrics;
  /**
   * Told once a job has ended for good: completed, or failed with no attempt left (not a failed
   * attempt that will be retried). Its errors are logged, never the job's.
   */
  onFinished?: (job: Job, outcome: 'completed' | 'failed') => Promise<void>;
}

/**
 * The runtime settings a worker configuration holds (`WORKER_CONCURRENCY`, `DRAIN_TIMEOUT_MS`,
 * `LOCK_DURATION_MS`, `STALLED_INTERVAL_MS`, `MAX_STALLED_COUNT`, `MAX_PREEMPTIONS`, `SLUICE_PREFIX`).
 */
export function runtimeOptionsFromConfig(
  config: WorkerConfig,
): Pick<
  WorkerRuntimeOptions,
  | 'prefix'
  | 'concurrency'
  | 'drainTimeoutMs'
  | 'lockDurationMs'
  | 'stalledIntervalMs'
  | 'maxStalledCount'
  | 'maxPreemptions'
> {
  return {
    prefix: config.SLUICE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    drainTimeoutMs: config.DRAIN_TIMEOUT_MS,
    lockDurationMs: config.LOCK_DURATION_MS,
    stalledIntervalMs: config.STALLED_INTERVAL_MS,
    maxStalledCount: config.MAX_STALLED_COUNT,
    maxPreemptions: config.MAX_PREEMPTIONS,
  };
}

/** Resolved {@link WorkerRuntimeOptions}. */
export type ResolvedWorkerRuntimeOptions = Required<Omit<WorkerRuntimeOptions, 'metrics' | 'onFinished'>> &
  Pick<WorkerRuntimeOptions, 'metrics' | 'onFinished'>;

/** What happened during {@link WorkerRuntime.drain}. */
export interface DrainResult {
  /** Jobs that were running when the drain began. */
  inFlight: number;
  /** Jobs handed back to `wait` because the deadline passed. */
  preempted: number;
  /** True when handlers ignored preemption and were abandoned to the stalled check. */
  abandoned: boolean;
  durationMs: number;
}

const PREEMPTED_REASON = new SluiceError('PREEMPTED', 'the worker is draining and its deadline passed');
/**
 * A limiter no count reaches: `max` jobs per second is far beyond any queue. It exists so that the
 * queue-wide pause `worker.rateLimit()` sets is honoured by every worker (BullMQ checks that pause
 * only where a limiter is configured).
 */
const OUTAGE_PAUSE_ONLY_LIMITER = { max: Number.MAX_SAFE_INTEGER, duration: 1000 };
const LOCK_LOST_REASON = "this attempt lost the job's lock (a stall); another attempt may run the job";

function resolveOptions(options: WorkerRuntimeOptions): ResolvedWorkerRuntimeOptions {
  return {
    prefix: DEFAULT_PREFIX,
    ...RUNTIME_DEFAULTS,
    outageBackoffMs: 1000,
    outageBackoffMaxMs: 30_000,
    ...options,
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * A BullMQ worker that drains: `drain()` stops fetching, lets in-flight jobs finish within a
 * deadline, then aborts them and hands them back to the wait list without spending an attempt.
 */
export class WorkerRuntime {
  readonly options: ResolvedWorkerRuntimeOptions;
  #state: WorkerState = 'starting';
  #worker: Worker | undefined;
  #handlers = new Map<string, { def: JobDefinition; handler: JobHandler<JobDefinition> }>();
  #inFlight = new Set<Promise<unknown>>();
  #preempting = false;
  #preemptedCount = 0;
  #draining: Promise<DrainResult> | undefined;
  /** Consecutive outage hand-backs; 0 once a job gets through. */
  #outages = 0;
  /** Jobs whose BullMQ lock renewal failed: their attempt was cancelled. */
  readonly #lockLost = new Set<string>();

  constructor(options: WorkerRuntimeOptions) {
    this.options = resolveOptions(options);
  }

  /** Where the runtime is in its life. */
  get state(): WorkerState {
    return this.#state;
  }

  /** Jobs running now. */
  get activeCount(): number {
    return this.#inFlight.size;
  }

  /** Registers the handler of one job kind. Call before {@link start}. */
  register<TDef extends JobDefinition>(def: TDef, handler: JobHandler<TDef>): this {
    if (def.queue !== this.options.queue) {
      throw new SluiceError(
        'INTERNAL',
        `job ${def.name} belongs to queue ${def.queue}, not ${this.options.queue}`,
      );
    }
    this.#handlers.set(def.name, { def, handler: handler });
    return this;
  }

  /** Connects and starts taking jobs. Resolves once the worker is connected. */
  async start(): Promise<void> {
    if (this.#worker) throw new SluiceError('INTERNAL', 'worker already started');
    const o = this.options;
    const worker = new Worker(
      o.queue,
      (job: Job, token?: string, signal?: AbortSignal) => this.#process(job, token, signal),
      {
        connection: o.connection,
        prefix: o.prefix,
        concurrency: o.concurrency,
        lockDuration: o.lockDurationMs,
        stalledInterval: o.stalledIntervalMs,
        maxStalledCount: o.maxStalledCount,
        // BullMQ honours a pause set by `rateLimit()` (an outage) only for a worker that has a
        // limiter; this one never limits by count, so the pause is all it does.
        limiter: OUTAGE_PAUSE_ONLY_LIMITER,
        autorun: false,
      },
    );
    this.#worker = worker;
    const log = o.logger;
    worker.on('error', (err) => log.error({ err, queue: o.queue }, 'worker error'));
    const finished = (job: Job, outcome: 'completed' | 'failed') =>
      void o
        .onFinished?.(job, outcome)
        .catch((err: unknown) =>
          log.warn({ err, jobId: job.id, outcome }, 'could not record the end of a job'),
        );
    worker.on('completed', (job) => finished(job, 'completed'));
    // BullMQ sets finishedOn only when the job moved to failed for good (no retry left).
    worker.on('failed', (job) => job?.finishedOn && finished(job, 'failed'));
    worker.on('stalled', (jobId) => {
      o.metrics?.jobsStalled.inc({ queue: o.queue });
      log.warn({ jobId, queue: o.queue }, 'job stalled (its lock expired) and was returned to wait');
    });
    worker.on('lockRenewalFailed', (jobIds: string[]) => {
      o.metrics?.lockRenewalFailures.inc({ queue: o.queue }, jobIds.length);
      // BullMQ lets the attempt run on; another worker may already be running the job. Stop it.
      for (const jobId of jobIds) {
        this.#lockLost.add(jobId);
        worker.cancelJob(jobId, LOCK_LOST_REASON);
      }
      log.error({ jobIds, queue: o.queue }, 'could not renew job locks; cancelled those attempts');
    });
    await worker.waitUntilReady();
    void worker.run().catch((err: unknown) => log.error({ err }, 'worker loop ended with an error'));
    this.#state = 'ready';
    log.info({ queue: o.queue, concurrency: o.concurrency }, 'worker ready');
  }

  /**
   * Stops taking jobs, lets in-flight jobs run up to `drainTimeoutMs`, then preempts the rest
   * (they return to `wait` without spending an attempt) and closes the connections.
   * Calling it again returns the same promise.
   */
  drain(): Promise<DrainResult> {
    this.#draining ??= this.#drain();
    return this.#draining;
  }

  async #drain(): Promise<DrainResult> {
    const started = Date.now();
    const o = this.options;
    const log = o.logger;
    this.#state = 'draining';
    const inFlight = this.#inFlight.size;
    log.info({ inFlight, drainTimeoutMs: o.drainTimeoutMs }, 'draining');
    let abandoned = false;
    if (this.#worker) {
      // close() stops fetching at once (it interrupts the blocking fetch) and then waits for the
      // running jobs, with no deadline of its own: the deadline is ours.
      const closed = this.#worker.close().then(() => true);
      if (!(await Promise.race([closed, sleep(o.drainTimeoutMs).then(() => false)]))) {
        log.warn({ active: this.#inFlight.size }, 'drain deadline passed, preempting running jobs');
        this.#preempting = true;
        this.#worker.cancelAllJobs(PREEMPTED_REASON.message);
        if (!(await Promise.race([closed, sleep(o.abortGraceMs).then(() => false)]))) {
          abandoned = true;
          log.error(
            { active: this.#inFlight.size },
            'jobs ignored preemption; abandoning them to the stalled check on another worker',
          );
        }
      }
    }
    if (abandoned) o.connection.disconnect();
    else await o.connection.quit().catch(() => o.connection.disconnect());
    this.#state = 'closed';
    const result = { inFlight, preempted: this.#preemptedCount, abandoned, durationMs: Date.now() - started };
    log.info(result, 'drained');
    return result;
  }

  async #process(job: Job, token: string | undefined, signal: AbortSignal | undefined): Promise<unknown> {
    const run = this.#run(job, token, signal ?? new AbortController().signal);
    this.#inFlight.add(run);
    try {
      return await run;
    } finally {
      this.#inFlight.delete(run);
    }
  }

  async #run(job: Job, token: string | undefined, signal: AbortSignal): Promise<unknown> {
    const o = this.options;
    const labels = { queue: o.queue, name: job.name };
    const log = o.logger.child({ jobId: job.id, job: job.name, queue: o.queue });
    // A job fetched in the instant before a drain began: hand it straight back.
    if (this.#state === 'draining') return this.#handBack(job, token, log);

    const entry = this.#handlers.get(job.name);
    if (!entry) {
      throw new UnrecoverableError(
        encodeFailure(new SluiceError('INVALID_REQUEST', `no handler for job ${job.name}`)),
      );
    }
    o.metrics?.jobsStarted.inc(labels);
    o.metrics?.activeJobs.inc({ queue: o.queue });
    const endTimer = o.metrics?.jobDuration.startTimer(labels);
    log.info({ attemptsMade: job.attemptsMade }, 'job started');
    try {
      const payload = parsePayload(entry.def, job.data);
      const result = await entry.handler({
        job,
        payload,
        token: token ?? '',
        signal,
        log,
        progress: (value) => job.updateProgress(value),
        defer: async (delayMs, reason) => {
          log.info({ delayMs, reason }, 'job deferred');
          await job.moveToDelayed(Date.now() + delayMs, token);
          throw new DelayedError();
        },
      });
      o.metrics?.jobsCompleted.inc(labels);
      endTimer?.({ outcome: 'completed' });
      this.#outages = 0;
      log.info('job completed');
      return result;
    } catch (err) {
      if (err instanceof DelayedError) {
        endTimer?.({ outcome: 'deferred' });
        throw err;
      }
      if (signal.aborted && this.#lockLost.delete(job.id!)) {
        // Nothing to hand back: the lock, and so the job, belongs to the stalled check now.
        endTimer?.({ outcome: 'lock-lost' });
        log.warn('attempt stopped: its lock was lost; the job runs again from the stalled check');
        throw new Error(encodeFailure(new SluiceError('PREEMPTED', LOCK_LOST_REASON)), { cause: err });
      }
      if (signal.aborted && this.#preempting) {
        endTimer?.({ outcome: 'preempted' });
        return await this.#handBack(job, token, log, 'drain');
      }
      const error = toSluiceError(err);
      if (isDependencyOutage(error)) {
        endTimer?.({ outcome: 'outage' });
        return await this.#outage(job, error, log);
      }
      if (error.code === 'PREEMPTED') {
        // The job's own lease on its document was lost (Redis unreachable for too long).
        endTimer?.({ outcome: 'preempted' });
        return await this.#handBack(job, token, log, 'lease-lost');
      }
      o.metrics?.attemptsFailed.inc({ ...labels, code: error.code });
      endTimer?.({ outcome: 'failed' });
      log.warn({ err, code: error.code, retryable: error.retryable }, 'job attempt failed');
      if (!error.retryable) throw new UnrecoverableError(encodeFailure(error));
      throw new Error(encodeFailure(error), { cause: err });
    } finally {
      o.metrics?.activeJobs.dec({ queue: o.queue });
    }
  }

  /**
   * A dependency is down: pause the whole queue (every worker, since they share the dependency)
   * and return the job to wait without spending an attempt; the pause doubles while the outage
   * lasts and ends by itself, so workers resume on their own.
   */
  async #outage(job: Job, error: SluiceError, log: Logger): Promise<never> {
    const o = this.options;
    const pauseMs = Math.min(o.outageBackoffMaxMs, o.outageBackoffMs * 2 ** Math.min(this.#outages, 16));
    this.#outages += 1;
    o.metrics?.jobsHandedBack.inc({ queue: o.queue, name: job.name, reason: 'outage' });
    log.warn(
      { code: error.code, err: error.message, pauseMs },
      'dependency outage: job handed back, queue paused',
    );
    await this.#worker?.rateLimit(pauseMs);
    throw new RateLimitError();
  }

  /**
   * Returns a job to `wait` without spending an attempt, unless it was preempted too often.
   * `reason`, when given, counts a preemption and is logged with it: `drain` (SIGTERM's deadline
   * passed) or `lease-lost` (the job's document lease expired while Redis was unreachable).
   */
  async #handBack(
    job: Job,
    token: string | undefined,
    log: Logger,
    reason?: 'drain' | 'lease-lost',
  ): Promise<never> {
    const o = this.options;
    if (reason) {
      // A key per preempted job, expiring on its own: the common path (never preempted) pays no
      // Redis round trip, and nothing needs cleaning up when the job ends.
      const key = `${o.prefix}:${o.queue}:preempted:${job.id}`;
      const preemptions = await o.connection.incr(key);
      await o.connection.pexpire(key, PREEMPTION_MEMORY_MS);
      if (preemptions > o.maxPreemptions) {
        log.warn({ preemptions, reason }, 'job preempted too often; this preemption spends an attempt');
        throw new Error(encodeFailure(PREEMPTED_REASON));
      }
      this.#preemptedCount += 1;
      o.metrics?.jobsPreempted.inc({ queue: o.queue, name: job.name });
      log.info({ preemptions, reason }, 'job preempted and returned to wait');
    }
    await job.moveToWait(token);
    throw new WaitingError();
  }
}

/** How long the preemption count of a job is remembered. */
const PREEMPTION_MEMORY_MS = 7 * 24 * 3600 * 1000;
