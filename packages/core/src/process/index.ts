/**
 * `@sluice/core/process`: what a Sluice process runs on: the drain-aware worker runtime, the
 * worker process around it, signal handling, the probe and metrics server, metrics and logging.
 * Loads bullmq, fastify, prom-client and pino.
 */
export { runMain } from './main.js';
export type { RunMainOptions } from './main.js';
export { createLogger } from './logger.js';
export type { LoggerOptions } from './logger.js';
export {
  createMetricsRegistry,
  createWorkerMetrics,
  registerAuditDrift,
  registerEmbeddingMetrics,
  registerHttpMetrics,
  registerQueueDepth,
} from './metrics.js';
export type { EmbeddingMetricsHooks, WorkerMetrics } from './metrics.js';
export { createHealthServer, runHealthChecks } from './health-server.js';
export type { HealthCheck, HealthReport, HealthServerOptions } from './health-server.js';
export { WorkerRuntime, runtimeOptionsFromConfig } from './worker-runtime.js';
export type {
  DrainResult,
  JobContext,
  JobHandler,
  ResolvedWorkerRuntimeOptions,
  WorkerRuntimeOptions,
  WorkerState,
} from './worker-runtime.js';
export { handleProcessSignals } from './process-lifecycle.js';
export type { ProcessSignalOptions } from './process-lifecycle.js';
export { SHUTDOWN_MARGIN_MS, runWorkerProcess } from './worker-process.js';
export type { WorkerProcess, WorkerProcessOptions } from './worker-process.js';
