import { type ApiConfig, type AuditReport, type Logger } from '@sluice/core';
import { DocumentQueue, JobEvents, createRedisConnection, embedderExtras } from '@sluice/core/queue';
import {
  createMetricsRegistry,
  registerAuditDrift,
  registerEmbeddingMetrics,
  registerHttpMetrics,
  registerQueueDepth,
  type HealthCheck,
} from '@sluice/core/process';
import { ChromaStore, createEmbedder, type Embedder } from '@sluice/ingest';
import { createUploadStore, type UploadStore } from '@sluice/storage';
import type { Cluster, Redis } from 'ioredis';
import type { Registry } from 'prom-client';

/** The Prometheus registry served at `/metrics`. */
export type MetricsRegistry = Registry;

/** What the API talks to: Redis (through the document queue), Chroma and the embedder. */
export interface ApiDependencies {
  /** The `producer` connection: commands fail fast while Redis is away instead of hanging. */
  readonly redis: Redis | Cluster;
  readonly documents: DocumentQueue;
  /** The queue's events (one blocking connection, opened on first use), for job event streams. */
  readonly jobEvents: JobEvents;
  readonly store: ChromaStore;
  /** Where uploads are stored: `STORAGE_DIR`, or S3 with `STORAGE_URL`. */
  readonly uploads: UploadStore;
  readonly embedder: Embedder;
  /** Served at `/metrics` on the metrics port: process metrics, queue depth by state, HTTP request durations, audit drift. */
  readonly metrics: MetricsRegistry;
  /** Records one answered request in `sluice_http_request_duration_seconds`. */
  readonly observeRequest: (
    labels: { method: string; route: string; status: number },
    seconds: number,
  ) => void;
  /** Records an audit's drift in `sluice_audit_drift{collection,kind}`. */
  readonly recordAudit: (collection: string, report: AuditReport) => void;
  /**
   * Readiness checks of the public `/api/health`: Redis only. A Chroma outage does not take the
   * API out of its Service (uploads and job status keep working; query, list and audit answer
   * 503 `DEPENDENCY_UNAVAILABLE` meanwhile).
   */
  readonly readiness: Record<string, HealthCheck>;
  /** Every dependency, for the detailed report on the metrics port. */
  readonly diagnostics: Record<string, HealthCheck>;
  /** Closes the queue and the Redis connection. */
  close(): Promise<void>;
}

/**
 * Opens the API's dependencies from its configuration. Redis connects in the background and
 * reconnects with backoff; readiness reports it until it answers.
 */
export function openApiDependencies(config: ApiConfig, logger: Logger): ApiDependencies {
  const redis = createRedisConnection({
    url: config.REDIS_URL,
    password: config.REDIS_PASSWORD,
    role: 'producer',
    logger,
    connectionName: 'sluice-api',
  });
  const documents = new DocumentQueue({ connection: redis, prefix: config.SLUICE_PREFIX });
  const jobEvents = new JobEvents({
    connection: redis,
    redisUrl: config.REDIS_URL,
    redisPassword: config.REDIS_PASSWORD,
    prefix: config.SLUICE_PREFIX,
    connectionName: 'sluice-api-events',
    onError: (err: Error) => logger.debug({ err }, 'job events connection error'),
  });
  const registry = createMetricsRegistry(config.SLUICE_RELEASE);
  // Queries embed through the same endpoint as the workers: within the fleet's limits too.
  const embedder = createEmbedder(config, {
    ...embedderExtras(config, redis),
    ...registerEmbeddingMetrics(registry),
    onCacheError: (err: unknown) => logger.warn({ err }, 'embedding cache unavailable; embedding without it'),
  });
  const store = new ChromaStore({ url: config.CHROMA_URL, dimensions: embedder.dimensions });
  const uploads = createUploadStore(config);
  registerQueueDepth(registry, [documents.queue]);
  const observeRequest = registerHttpMetrics(registry);
  const recordAudit = registerAuditDrift(registry);
  return {
    redis,
    documents,
    jobEvents,
    store,
    uploads,
    embedder,
    metrics: registry,
    observeRequest,
    recordAudit,
    readiness: { redis: () => redis.ping() },
    diagnostics: {
      redis: () => redis.ping(),
      chroma: (signal) => store.heartbeat(signal),
    },
    async close() {
      await jobEvents.close();
      await documents.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
