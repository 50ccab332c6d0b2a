import { apiEnvSchema, parseEnv, workerEnvSchema, type ApiConfig, type WorkerConfig } from '@sluice/core';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { containerEnv } from './kubernetes-env.js';
import { containerNamed, workloadNamed, type Manifest, type Workload } from './kubernetes.js';

/** The BullMQ queue the workers consume (SPEC.md, "Job semantics"). */
export const QUEUE_NAME = 'ingest';

/**
 * The paths the processes serve for probes and scraping (SPEC.md, "HTTP API"; the worker's
 * are also exercised against @sluice/core's health server in kubernetes-consistency.test.ts).
 */
export const PROBE_PATHS = { readiness: '/api/health', liveness: '/api/live', metrics: '/metrics' } as const;

/** Where each of our processes runs, in the manifests and in Compose. */
export const SLUICE_PROCESSES = {
  api: { workload: 'sluice-api', container: 'api', image: 'sluice-api', portVariable: 'PORT' },
  worker: {
    workload: 'sluice-worker',
    container: 'worker',
    image: 'sluice-worker',
    portVariable: 'HEALTH_PORT',
  },
} as const;

/** One of our processes as deployed: its container, the environment it gets, and that parsed by its schema. */
export interface Deployed<TConfig> {
  readonly workload: Workload;
  readonly container: IContainer;
  readonly env: Readonly<Record<string, string>>;
  /** The environment parsed by the process's own schema: the values it will run with, defaults included. */
  readonly config: TConfig;
}

function deployed<TConfig>(
  manifests: readonly Manifest[],
  namespace: string,
  process: (typeof SLUICE_PROCESSES)[keyof typeof SLUICE_PROCESSES],
  parse: (env: Record<string, string>) => TConfig,
): Deployed<TConfig> {
  const workload = workloadNamed(manifests, process.workload);
  const container = containerNamed(workload.pod, process.container);
  const env = containerEnv(manifests, workload, container, { namespace });
  return { workload, container, env, config: parse(env) };
}

/** The API Deployment, its environment and the configuration `apiEnvSchema` makes of it. */
export function deployedApi(manifests: readonly Manifest[], namespace: string): Deployed<ApiConfig> {
  return deployed(manifests, namespace, SLUICE_PROCESSES.api, (env) => parseEnv(apiEnvSchema, env));
}

/** The worker Deployment, its environment and the configuration `workerEnvSchema` makes of it. */
export function deployedWorker(manifests: readonly Manifest[], namespace: string): Deployed<WorkerConfig> {
  return deployed(manifests, namespace, SLUICE_PROCESSES.worker, (env) => parseEnv(workerEnvSchema, env));
}
