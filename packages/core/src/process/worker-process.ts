import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { createHealthServer, type HealthCheck } from './health-server.js';
import { registerQueueDepth, type WorkerMetrics } from './metrics.js';
import { handleProcessSignals } from './process-lifecycle.js';
import type { DrainResult, WorkerRuntime } from './worker-runtime.js';

/**
 * What a worker's shutdown may take beyond its drain timeout and abort grace (closing the probe
 * server and connections) before the process exits anyway.
 */
export const SHUTDOWN_MARGIN_MS = 2000;

/** Options for {@link runWorkerProcess}. */
export interface WorkerProcessOptions {
  runtime: WorkerRuntime;
  logger: Logger;
  metrics: WorkerMetrics;
  /** Port of the probe and metrics server; 0 picks a free one. */
  healthPort: number;
  /** @defaultValue `0.0.0.0` */
  healthHost?: string;
  /** Readiness checks (Redis, Chroma, …). */
  checks: Record<string, HealthCheck>;
  /** Queues whose depth `/metrics` reports. */
  queues?: readonly Queue[];
  /** Closes what the process opened besides the runtime (queues, clients), after the drain. */
  onClose?: () => Promise<void>;
  /** Install SIGTERM/SIGINT/crash handlers. @defaultValue true */
  handleSignals?: boolean;
}

/** A running worker process. */
export interface WorkerProcess {
  /** The port the probe server listens on. */
  readonly healthPort: number;
  /** Drains the runtime, then closes the probe server and everything else. */
  shutdown(): Promise<DrainResult>;
}

/**
 * Wires a {@link WorkerRuntime} into a process: the probe server (readiness 503 unless the
 * runtime is `ready`, so it turns 503 the moment a drain begins, while liveness keeps answering
 * until the drain is over), queue-depth metrics, and signal handling (SIGTERM → drain → exit 0).
 */
export async function runWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const { runtime, logger } = options;
  const health = createHealthServer({
    checks: options.checks,
    registry: options.metrics.registry,
    isDraining: () => runtime.state !== 'ready',
    logger,
  });
  if (options.queues?.length) registerQueueDepth(options.metrics.registry, options.queues);
  await health.listen({ port: options.healthPort, host: options.healthHost ?? '0.0.0.0' });
  const address = health.server.address();
  const healthPort = typeof address === 'object' && address ? address.port : options.healthPort;

  let closing: Promise<DrainResult> | undefined;
  const shutdown = () =>
    (closing ??= (async () => {
      const result = await runtime.drain();
      await health.close();
      await options.onClose?.();
      return result;
    })());

  if (options.handleSignals ?? true) {
    const { drainTimeoutMs, abortGraceMs } = runtime.options;
    handleProcessSignals({
      logger,
      shutdown: async () => void (await shutdown()),
      shutdownDeadlineMs: drainTimeoutMs + abortGraceMs + SHUTDOWN_MARGIN_MS,
    });
  }
  await runtime.start();
  logger.info({ healthPort }, 'worker process ready');
  return { healthPort, shutdown };
}
