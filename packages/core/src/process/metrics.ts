import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queue } from 'bullmq';

/** The worker's Prometheus metrics. Names are part of the operations contract (dashboards, KEDA). */
export interface WorkerMetrics {
  readonly registry: Registry;
  readonly jobsStarted: Counter<'queue' | 'name'>;
  readonly jobsCompleted: Counter<'queue' | 'name'>;
  readonly attemptsFailed: Counter<'queue' | 'name' | 'code'>;
  readonly jobsPreempted: Counter<'queue' | 'name'>;
  readonly jobsStalled: Counter<'queue'>;
  readonly jobsHandedBack: Counter<'queue' | 'name' | 'reason'>;
  readonly lockRenewalFailures: Counter<'queue'>;
  readonly jobDuration: Histogram<'queue' | 'name' | 'outcome'>;
  readonly activeJobs: Gauge<'queue'>;
}

/**
 * A registry with Node's default process metrics under their usual names (`process_cpu_seconds_total`,
 * `nodejs_eventloop_lag_seconds`, …) and `sluice_build_info{version}` = 1: the release is one
 * series to join on (`* on(instance) group_left(version) sluice_build_info`), not a label on
 * every series, so that old and new versions can be told apart during a rollout.
 */
export function createMetricsRegistry(release: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'sluice_build_info',
    help: 'The running release of Sluice (always 1).',
    labelNames: ['version'],
    registers: [registry],
  }).set({ version: release }, 1);
  return registry;
}

/** A {@link createMetricsRegistry} registry plus the worker's job metrics. */
export function createWorkerMetrics(release: string): WorkerMetrics {
  const registry = createMetricsRegistry(release);
  const registers = [registry];
  const counter = <TLabel extends string>(name: string, help: string, labelNames: TLabel[]) =>
    new Counter<TLabel>({ name, help, labelNames, registers });
  return {
    registry,
    jobsStarted: counter('sluice_jobs_started_total', 'Jobs a worker started.', ['queue', 'name']),
    jobsCompleted: counter('sluice_jobs_completed_total', 'Jobs completed.', ['queue', 'name']),
    attemptsFailed: counter('sluice_job_attempts_failed_total', 'Job attempts that failed, by error code.', [
      'queue',
      'name',
      'code',
    ]),
    jobsPreempted: counter(
      'sluice_jobs_preempted_total',
      'Jobs handed back to the wait list on drain without spending an attempt.',
      ['queue', 'name'],
    ),
    jobsHandedBack: counter(
      'sluice_jobs_handed_back_total',
      'Jobs returned to the wait list without spending an attempt because a dependency was down.',
      ['queue', 'name', 'reason'],
    ),
    jobsStalled: counter(
      'sluice_jobs_stalled_total',
      'Jobs this worker found stalled (lock expired) and returned to wait.',
      ['queue'],
    ),
    lockRenewalFailures: counter(
      'sluice_lock_renewal_failures_total',
      'Job locks this worker failed to renew.',
      ['queue'],
    ),
    jobDuration: new Histogram({
      name: 'sluice_job_duration_seconds',
      help: 'Time from start to end of one job run.',
      labelNames: ['queue', 'name', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }),
    activeJobs: new Gauge({
      name: 'sluice_active_jobs',
      help: 'Jobs running in this process now.',
      labelNames: ['queue'],
      registers,
    }),
  };
}

/**
 * Adds `sluice_queue_jobs{queue,state}`: the queue's depth by state, read from Redis when
 * scraped. KEDA or an HPA scales workers on `waiting + active`.
 */
export function registerQueueDepth(registry: Registry, queues: readonly Queue[]): void {
  new Gauge({
    name: 'sluice_queue_jobs',
    help: 'Jobs in the queue by state, read from Redis at scrape time.',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      for (const queue of queues) {
        const counts = await queue.getJobCounts(
          'waiting',
          'active',
          'delayed',
          'failed',
          'completed',
          'prioritized',
        );
        for (const [state, count] of Object.entries(counts)) this.set({ queue: queue.name, state }, count);
      }
    },
  });
}

/**
 * Adds `sluice_http_request_duration_seconds{method,route,status}` and returns the recorder the
 * HTTP server calls once per answered request. `route` is the route's pattern, never the raw
 * URL, so that IDs in paths do not explode the series count.
 */
export function registerHttpMetrics(
  registry: Registry,
): (labels: { method: string; route: string; status: number }, seconds: number) => void {
  const histogram = new Histogram({
    name: 'sluice_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status, with their duration.',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return ({ method, route, status }, seconds) =>
    histogram.observe({ method, route, status: String(status) }, seconds);
}

/** The kinds of drift an audit counts, as the `kind` label of `sluice_audit_drift`. */
const DRIFT_KINDS = ['missing', 'orphans', 'stale', 'duplicates'] as const;

/**
 * `sluice_audit_drift{collection,kind}`: what the last audit of each collection found (0 when
 * Chroma holds exactly what Sluice indexed). Returns the function that records an audit.
 */
export function registerAuditDrift(
  registry: Registry,
): (collection: string, report: Readonly<Record<(typeof DRIFT_KINDS)[number], number>>) => void {
  const gauge = new Gauge({
    name: 'sluice_audit_drift',
    help: 'Chunks the last audit of a collection found out of place, by kind (missing, orphans, stale, duplicates).',
    labelNames: ['collection', 'kind'],
    registers: [registry],
  });
  return (collection, report) => {
    for (const kind of DRIFT_KINDS) gauge.set({ collection, kind }, report[kind]);
  };
}

/** What {@link registerEmbeddingMetrics} records: the embedder's hooks (see `@sluice/ingest`'s createEmbedder). */
export interface EmbeddingMetricsHooks {
  /** One request to the embeddings endpoint, over. */
  onRequest(event: { status: number | undefined; inputs: number; tokens: number; waitedMs: number }): void;
  /** One lookup in the embedding cache. */
  onCache(outcome: { hits: number; misses: number }): void;
}

/**
 * The embeddings endpoint as this process uses it: `sluice_embedding_requests_total{status}`
 * (`429` among them; `error` when no answer came), `sluice_embedding_tokens_total` and
 * `sluice_embedding_inputs_total` (of answered requests: tokens per second is their rate),
 * `sluice_embedding_rate_limit_wait_seconds_total` (time requests waited for the fleet's rate
 * limit) and `sluice_embedding_cache_lookups_total{result}`.
 */
export function registerEmbeddingMetrics(registry: Registry): EmbeddingMetricsHooks {
  const registers = [registry];
  const requests = new Counter({
    name: 'sluice_embedding_requests_total',
    help: 'Requests to the embeddings endpoint, by HTTP status (error: no answer).',
    labelNames: ['status'],
    registers,
  });
  const tokens = new Counter({
    name: 'sluice_embedding_tokens_total',
    help: 'Tokens embedded (the endpoint’s count, else the estimate).',
    registers,
  });
  const inputs = new Counter({ name: 'sluice_embedding_inputs_total', help: 'Texts embedded.', registers });
  const waited = new Counter({
    name: 'sluice_embedding_rate_limit_wait_seconds_total',
    help: 'Time requests waited for the fleet-wide rate limit (EMBEDDINGS_RPM/TPM, 429 hold-offs).',
    registers,
  });
  const cache = new Counter({
    name: 'sluice_embedding_cache_lookups_total',
    help: 'Texts looked up in the embedding cache, by result (hit, miss).',
    labelNames: ['result'],
    registers,
  });
  return {
    onRequest(event) {
      requests.inc({ status: event.status === undefined ? 'error' : String(event.status) });
      if (event.waitedMs > 0) waited.inc(event.waitedMs / 1000);
      if (event.status !== undefined && event.status < 300) {
        tokens.inc(event.tokens);
        inputs.inc(event.inputs);
      }
    },
    onCache({ hits, misses }) {
      if (hits > 0) cache.inc({ result: 'hit' }, hits);
      if (misses > 0) cache.inc({ result: 'miss' }, misses);
    },
  };
}
