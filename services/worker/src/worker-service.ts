import { INGEST_QUEUE, type WorkerConfig } from '@sluice/core';
import {
  WorkerRuntime,
  createLogger,
  createWorkerMetrics,
  registerEmbeddingMetrics,
  runWorkerProcess,
  runtimeOptionsFromConfig,
  type WorkerProcess,
} from '@sluice/core/process';
import {
  DocumentLock,
  DocumentQueue,
  checkEvictionPolicy,
  createRedisConnection,
  embedderExtras,
} from '@sluice/core/queue';
import { ChromaStore, DocumentPlanner, IngestPipeline, ParsePool, createEmbedder } from '@sluice/ingest';
import { createUploadStore } from '@sluice/storage';
import { registerDocumentHandlers } from './document-handlers.js';
import { sweepUploads } from './upload-sweeper.js';

/** How soon after start, and how often after that, a worker sweeps unused uploads. */
const SWEEP_FIRST_DELAY_MS = 60_000;
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/** Options for {@link startWorker} beyond the configuration. */
export interface StartWorkerOptions {
  /** Install signal handlers. @defaultValue true */
  handleSignals?: boolean;
}

/**
 * Starts the ingestion worker: the document job handlers on a drain-aware runtime, readiness
 * checks for Redis and Chroma, and the probe and metrics server on `HEALTH_PORT`.
 */
export async function startWorker(
  config: WorkerConfig,
  options: StartWorkerOptions = {},
): Promise<WorkerProcess> {
  const logger = createLogger({
    name: 'sluice-worker',
    level: config.LOG_LEVEL,
    release: config.SLUICE_RELEASE,
  });
  const connection = createRedisConnection({
    url: config.REDIS_URL,
    password: config.REDIS_PASSWORD,
    role: 'worker',
    logger,
    connectionName: 'sluice-worker',
  });
  const metrics = createWorkerMetrics(config.SLUICE_RELEASE);
  const embedder = createEmbedder(config, {
    ...embedderExtras(config, connection),
    ...registerEmbeddingMetrics(metrics.registry),
    onCacheError: (err: unknown) => logger.warn({ err }, 'embedding cache unavailable; embedding without it'),
  });
  // An OpenAI-compatible embedder learns its vector length from its first answer (0 until then).
  const store = new ChromaStore({ url: config.CHROMA_URL, dimensions: embedder.dimensions || undefined });
  const documents = new DocumentQueue({ connection, prefix: config.SLUICE_PREFIX });
  const parsePool = new ParsePool();
  const uploads = createUploadStore(config);
  const planner = new DocumentPlanner({
    embedder,
    parsePool,
    uploads,
    split: { chunkSize: config.CHUNK_SIZE, chunkOverlap: config.CHUNK_OVERLAP },
    parse: { timeoutMs: config.PARSE_TIMEOUT_MS, maxMemoryMb: config.PARSE_MAX_MEMORY_MB },
  });
  const pipeline = new IngestPipeline({ planner, store, embedder });
  const runtime = new WorkerRuntime({
    ...runtimeOptionsFromConfig(config),
    queue: INGEST_QUEUE,
    connection,
    logger,
    metrics,
    // A collection's progress view counts its jobs' ends.
    onFinished: async (job, outcome) => {
      const { collection } = (job.data ?? {}) as { collection?: unknown };
      if (typeof collection === 'string' && job.id) await documents.recordEnd(collection, job.id, outcome);
    },
  });
  registerDocumentHandlers(runtime, {
    pipeline,
    locks: new DocumentLock({ connection, prefix: config.SLUICE_PREFIX }),
  });
  // What producers version submissions with (SPEC: version = content, metadata, fingerprint).
  void documents
    .publishPipeline(pipeline.fingerprint)
    .catch((err: unknown) => logger.warn({ err }, 'could not publish the pipeline fingerprint'));
  void checkEvictionPolicy(connection, logger);
  // Uploads nothing needs any more are removed, one sweep at a time across the workers.
  const sweep = () =>
    void sweepUploads({
      store: uploads,
      connection,
      prefix: config.SLUICE_PREFIX,
      queue: documents.queue,
      logger,
    }).catch((err: unknown) => logger.warn({ err }, 'could not sweep unused uploads'));
  const firstSweep = setTimeout(sweep, SWEEP_FIRST_DELAY_MS);
  const sweeps = setInterval(sweep, SWEEP_INTERVAL_MS);
  firstSweep.unref();
  sweeps.unref();
  logger.info(
    { embedder: embedder.id, fingerprint: pipeline.fingerprint, concurrency: config.WORKER_CONCURRENCY },
    'starting worker',
  );
  return runWorkerProcess({
    runtime,
    logger,
    metrics,
    healthPort: config.HEALTH_PORT,
    checks: {
      redis: () => connection.ping(),
      chroma: (signal) => store.heartbeat(signal),
    },
    queues: [documents.queue],
    handleSignals: options.handleSignals ?? true,
    onClose: async () => {
      clearTimeout(firstSweep);
      clearInterval(sweeps);
      await documents.close();
      await parsePool.close();
    },
  });
}
