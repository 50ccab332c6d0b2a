import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { containerEnv } from '../deploy/support/kubernetes-env.js';
import { containerNamed, loadKustomization, workloadNamed } from '../deploy/support/kubernetes.js';

/** The Deployments the lab runs, by their `metadata.name` in `deploy/k8s`. */
export const WORKER_DEPLOYMENT = 'sluice-worker';
/** The API Deployment's name in `deploy/k8s`. */
export const API_DEPLOYMENT = 'sluice-api';

/** An HTTP probe as the kubelet runs it, with Kubernetes' defaults filled in. */
export interface HttpProbeSpec {
  readonly path: string;
  /** The container port, with a named port resolved. */
  readonly port: number;
  /** @defaultValue 0 */
  readonly initialDelaySeconds: number;
  /** @defaultValue 10 */
  readonly periodSeconds: number;
  /** @defaultValue 1 */
  readonly timeoutSeconds: number;
  /** @defaultValue 1 */
  readonly successThreshold: number;
  /** @defaultValue 3 */
  readonly failureThreshold: number;
}

/**
 * What a RollingUpdate of one Deployment depends on, read from `deploy/k8s` (YAML 1.1, as kubectl
 * reads it) with Kubernetes' defaults for the fields the manifest leaves out.
 */
export interface DeploymentSpec {
  readonly name: string;
  /** The container the lab runs as a process. */
  readonly container: string;
  /** `spec.replicas`; undefined when an autoscaler owns the count (the worker's case). */
  readonly replicas: number | undefined;
  /** `strategy.rollingUpdate.maxSurge`: a count or a percentage. @defaultValue `25%` */
  readonly maxSurge: number | string;
  /** `strategy.rollingUpdate.maxUnavailable`: a count or a percentage. @defaultValue `25%` */
  readonly maxUnavailable: number | string;
  /** @defaultValue 0 */
  readonly minReadySeconds: number;
  /** @defaultValue 30 */
  readonly terminationGracePeriodSeconds: number;
  /** Seconds the preStop hook sleeps (`exec: sleep N` or `sleep.seconds`); 0 without a hook. */
  readonly preStopSleepSeconds: number;
  readonly readinessProbe: HttpProbeSpec;
  readonly startupProbe: HttpProbeSpec | undefined;
  /** The container's environment as the kubelet resolves it (ConfigMap, Secret, fieldRefs). */
  readonly env: Readonly<Record<string, string>>;
  /** The pod template's `app.kubernetes.io/version` label, which becomes `SLUICE_RELEASE`. */
  readonly version: string;
}

const PROBE_DEFAULTS = {
  initialDelaySeconds: 0,
  periodSeconds: 10,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 3,
} as const;

function httpProbe(
  probe: IProbe | undefined,
  container: IContainer,
  where: string,
): HttpProbeSpec | undefined {
  if (!probe) return undefined;
  const get = probe.httpGet;
  if (!get) throw new Error(`${where}: only httpGet probes are modelled`);
  const port =
    typeof get.port === 'number'
      ? get.port
      : container.ports?.find((p) => p.name === get.port)?.containerPort;
  if (port === undefined) throw new Error(`${where}: probe port ${String(get.port)} is not a container port`);
  return {
    path: get.path ?? '/',
    port,
    initialDelaySeconds: probe.initialDelaySeconds ?? PROBE_DEFAULTS.initialDelaySeconds,
    periodSeconds: probe.periodSeconds ?? PROBE_DEFAULTS.periodSeconds,
    timeoutSeconds: probe.timeoutSeconds ?? PROBE_DEFAULTS.timeoutSeconds,
    successThreshold: probe.successThreshold ?? PROBE_DEFAULTS.successThreshold,
    failureThreshold: probe.failureThreshold ?? PROBE_DEFAULTS.failureThreshold,
  };
}

function preStopSleepSeconds(container: IContainer, where: string): number {
  const hook = container.lifecycle?.preStop;
  if (!hook) return 0;
  if (hook.sleep) return hook.sleep.seconds;
  const command = hook.exec?.command ?? [];
  const [program, seconds, ...rest] = command;
  if (program === 'sleep' && seconds !== undefined && rest.length === 0 && /^\d+$/.test(seconds)) {
    return Number(seconds);
  }
  throw new Error(`${where}: preStop ${JSON.stringify(hook)} is not a sleep the lab can model`);
}

/**
 * Reads one Deployment of the kustomization in `deploy/k8s` and resolves what a rollout of it
 * needs. Parsing reuses the deploy tests' loaders, so the lab and those tests read the manifests
 * the same way.
 * @throws Error when the Deployment, its container, or a reference it makes does not exist
 */
export function loadDeploymentSpec(name: string, container?: string): DeploymentSpec {
  const { kustomization, manifests } = loadKustomization();
  const workload = workloadNamed(manifests, name);
  if (workload.kind !== 'Deployment') throw new Error(`${name} is a ${workload.kind}, not a Deployment`);
  const deployment = workload.object as IDeployment;
  const main = container ? containerNamed(workload.pod, container) : workload.pod.containers[0];
  if (!main) throw new Error(`${name} has no container`);
  const where = `${name}/${main.name}`;
  const rolling = deployment.spec?.strategy?.rollingUpdate;
  if (deployment.spec?.strategy?.type === 'Recreate')
    throw new Error(`${name} uses Recreate, not RollingUpdate`);
  const readinessProbe = httpProbe(main.readinessProbe, main, `${where} readinessProbe`);
  if (!readinessProbe) throw new Error(`${where} has no readiness probe`);
  return {
    name,
    container: main.name,
    replicas: deployment.spec?.replicas,
    maxSurge: rolling?.maxSurge ?? '25%',
    maxUnavailable: rolling?.maxUnavailable ?? '25%',
    minReadySeconds: deployment.spec?.minReadySeconds ?? 0,
    terminationGracePeriodSeconds: workload.pod.terminationGracePeriodSeconds ?? 30,
    preStopSleepSeconds: preStopSleepSeconds(main, where),
    readinessProbe,
    startupProbe: httpProbe(main.startupProbe, main, `${where} startupProbe`),
    env: containerEnv(manifests, workload, main, { namespace: kustomization.namespace }),
    // The release is baked into the image (SLUICE_RELEASE): its tag names the version.
    version: workload.podLabels['app.kubernetes.io/version'] ?? imageTag(main.image) ?? 'unversioned',
  };
}

/** The tag of an image reference (`ghcr.io/owner/sluice-worker:0.1.0` → `0.1.0`), if it has one. */
function imageTag(image: string | undefined): string | undefined {
  const name = image?.split('@')[0] ?? '';
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(colon + 1) : undefined;
}

/**
 * Resolves an IntOrString of a RollingUpdate against the desired replica count as the Deployment
 * controller does: percentages of `maxSurge` round up, of `maxUnavailable` round down.
 */
export function resolveIntOrPercent(value: number | string, replicas: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+)%$/.exec(value);
  if (!match) throw new Error(`not a count or a percentage: ${value}`);
  const exact = (Number(match[1]) * replicas) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/**
 * `maxSurge` and `maxUnavailable` as counts. Both 0 is refused by the API server; when
 * percentages round both to 0, the controller uses `maxUnavailable` 1 so a rollout can progress.
 */
export function rollingUpdateBounds(
  spec: Pick<DeploymentSpec, 'maxSurge' | 'maxUnavailable'>,
  replicas: number,
): { maxSurge: number; maxUnavailable: number } {
  const maxSurge = resolveIntOrPercent(spec.maxSurge, replicas, true);
  const maxUnavailable = resolveIntOrPercent(spec.maxUnavailable, replicas, false);
  return { maxSurge, maxUnavailable: maxSurge === 0 && maxUnavailable === 0 ? 1 : maxUnavailable };
}
