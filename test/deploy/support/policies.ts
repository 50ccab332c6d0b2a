import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscalerBehavior } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscalerBehavior';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';

/*
 * The deploy files' policies as pure functions: each returns what is wrong, empty when nothing
 * is, so that the tests can show both that the real files pass and that a broken copy fails.
 */

/**
 * After the drain deadline, how long preempted jobs get to reach their next batch boundary:
 * `WorkerRuntimeOptions.abortGraceMs`, 5000 by default and not configurable by environment.
 */
export const ABORT_GRACE_MS = 5_000;

/** Beyond drain and abort grace, time for a worker to close Redis, its health server and exit. */
export const WORKER_EXIT_MARGIN_MS = 10_000;

/** Beyond preStop and SHUTDOWN_DELAY_MS, time for the API's in-flight requests (uploads) to finish. */
export const API_DRAIN_MARGIN_MS = 10_000;

/** Kubernetes' terminationGracePeriodSeconds when a pod sets none. */
export const DEFAULT_GRACE_SECONDS = 30;

/** The labels every object carries (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/). */
export const REQUIRED_LABELS = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/part-of',
  'app.kubernetes.io/managed-by',
] as const;

/** Hardening and operability every container needs: probes, resources, least privilege. */
export function containerViolations(pod: IPodSpec, container: IContainer): string[] {
  const name = `container ${container.name}`;
  const violations: string[] = [];
  if (!container.readinessProbe) violations.push(`${name} has no readinessProbe`);
  if (!container.livenessProbe) violations.push(`${name} has no livenessProbe`);
  for (const bound of ['requests', 'limits'] as const) {
    for (const resource of ['cpu', 'memory']) {
      if (container.resources?.[bound]?.[resource] === undefined) {
        violations.push(`${name} has no resources.${bound}.${resource}`);
      }
    }
  }
  const podContext = pod.securityContext;
  const context = container.securityContext;
  if ((context?.runAsNonRoot ?? podContext?.runAsNonRoot) !== true)
    violations.push(`${name} may run as root`);
  if ((context?.runAsUser ?? podContext?.runAsUser) === 0) violations.push(`${name} runs as uid 0`);
  if (context?.privileged === true) violations.push(`${name} is privileged`);
  if (context?.allowPrivilegeEscalation !== false) violations.push(`${name} allows privilege escalation`);
  if (context?.readOnlyRootFilesystem !== true) violations.push(`${name} has a writable root filesystem`);
  if (!(context?.capabilities?.drop ?? []).includes('ALL'))
    violations.push(`${name} does not drop ALL capabilities`);
  if ((context?.capabilities?.add ?? []).length > 0) violations.push(`${name} adds capabilities`);
  const seccomp = context?.seccompProfile?.type ?? podContext?.seccompProfile?.type;
  if (seccomp !== 'RuntimeDefault') violations.push(`${name} has no RuntimeDefault seccomp profile`);
  const tmp = container.volumeMounts?.find((mount) => mount.mountPath === '/tmp');
  const tmpVolume = pod.volumes?.find((volume) => volume.name === tmp?.name);
  if (!tmp || tmp.readOnly === true || !tmpVolume?.emptyDir) {
    violations.push(`${name} has no writable emptyDir on /tmp`);
  }
  return violations;
}

/**
 * An image reference pinned to a released version: a tag that starts with a version number
 * (`7.4.2`, `1.0.20`, `24.21.0-bookworm-slim`) or a digest. `latest`, a bare name or a
 * moving tag such as `7` fail.
 */
export function imageViolations(image: string): string[] {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return [];
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.indexOf(':');
  if (colon < 0) return [`image ${image} has no tag`];
  const tag = lastSegment.slice(colon + 1);
  if (!/^v?\d+\.\d+(\.\d+)?([-.+][0-9A-Za-z.-]+)?$/.test(tag)) {
    return [`image ${image} is not pinned to a version (tag ${tag})`];
  }
  return [];
}

/** A rollout that never drops below the desired count: RollingUpdate, maxSurge ≥ 1, maxUnavailable 0. */
export function rolloutViolations(deployment: IDeployment): string[] {
  const name = `Deployment ${deployment.metadata?.name}`;
  const strategy = deployment.spec?.strategy;
  if (strategy?.type !== 'RollingUpdate') return [`${name} does not use RollingUpdate`];
  const { maxSurge, maxUnavailable } = strategy.rollingUpdate ?? {};
  const violations: string[] = [];
  if (maxUnavailable !== 0 && maxUnavailable !== '0%') {
    violations.push(`${name} has maxUnavailable ${String(maxUnavailable)} (must be 0; the default is 25%)`);
  }
  if (maxSurge === undefined || maxSurge === 0 || maxSurge === '0%') {
    violations.push(`${name} must surge by at least one pod`);
  }
  return violations;
}

/** The worker's grace period must outlast the drain, the abort grace and the exit. */
export function workerGraceViolations(graceSeconds: number | undefined, drainTimeoutMs: number): string[] {
  const graceMs = (graceSeconds ?? DEFAULT_GRACE_SECONDS) * 1000;
  const neededMs = drainTimeoutMs + ABORT_GRACE_MS + WORKER_EXIT_MARGIN_MS;
  return graceMs > neededMs
    ? []
    : [
        `worker grace ${graceMs} ms is not more than DRAIN_TIMEOUT_MS ${drainTimeoutMs} + abort grace ` +
          `${ABORT_GRACE_MS} + margin ${WORKER_EXIT_MARGIN_MS} ms`,
      ];
}

/** The API's grace period must cover preStop, the shutdown delay and in-flight requests. */
export function apiGraceViolations(
  graceSeconds: number | undefined,
  preStopSeconds: number,
  shutdownDelayMs: number,
): string[] {
  const graceMs = (graceSeconds ?? DEFAULT_GRACE_SECONDS) * 1000;
  const neededMs = preStopSeconds * 1000 + shutdownDelayMs + API_DRAIN_MARGIN_MS;
  return graceMs >= neededMs
    ? []
    : [
        `API grace ${graceMs} ms is less than preStop ${preStopSeconds * 1000} + SHUTDOWN_DELAY_MS ` +
          `${shutdownDelayMs} + margin ${API_DRAIN_MARGIN_MS} ms`,
      ];
}

/** How long a container's preStop hook sleeps: `sleep N` as exec (directly or through a shell) or the sleep action. */
export function preStopSleepSeconds(container: IContainer): number {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const command = (preStop?.exec?.command ?? []).join(' ');
  const match = /(?:^|\s)sleep\s+(\d+(?:\.\d+)?)\s*$/.exec(command);
  return match ? Number(match[1]) : 0;
}

/**
 * Scale-down that respects draining: it removes at most one worker per worker grace period,
 * so that each removed worker has drained (or handed its jobs back) before the next one is
 * told to stop, and it waits out short lulls (a stabilization window of a minute or more).
 * With selectPolicy Min, one such policy bounds the rate; otherwise (Max picks the largest
 * change) every policy must, and a Percent policy never does.
 */
export function scaleDownViolations(
  behavior: IHorizontalPodAutoscalerBehavior | undefined,
  workerGraceSeconds: number | undefined,
): string[] {
  const grace = workerGraceSeconds ?? DEFAULT_GRACE_SECONDS;
  const scaleDown = behavior?.scaleDown;
  if (!scaleDown?.policies?.length) return ['scaleDown has no policies (the default removes 100% at once)'];
  if (scaleDown.selectPolicy === 'Disabled') return [];
  const violations: string[] = [];
  const window = scaleDown.stabilizationWindowSeconds ?? 300;
  if (window < 60) violations.push(`scaleDown stabilizationWindowSeconds ${window} is under 60`);
  const bounded = scaleDown.policies.map(
    (policy) => policy.type === 'Pods' && policy.value <= 1 && policy.periodSeconds >= grace,
  );
  const ok = scaleDown.selectPolicy === 'Min' ? bounded.some(Boolean) : bounded.every(Boolean);
  if (!ok) violations.push(`scaleDown may remove more than one worker per ${grace} s grace period`);
  return violations;
}

/** Redis settings BullMQ needs: AOF persistence and no eviction. */
export function redisServerViolations(args: readonly string[]): string[] {
  const valueOf = (flag: string) => {
    const index = args.indexOf(flag);
    return index < 0 ? undefined : args[index + 1];
  };
  const violations: string[] = [];
  if (valueOf('--appendonly') !== 'yes') violations.push('redis-server runs without --appendonly yes');
  if (valueOf('--maxmemory-policy') !== 'noeviction') {
    violations.push('redis-server runs without --maxmemory-policy noeviction');
  }
  return violations;
}

/** Missing recommended labels. */
export function labelViolations(
  kind: string,
  name: string,
  labels: Readonly<Record<string, string>> | undefined,
): string[] {
  return REQUIRED_LABELS.filter((label) => !labels?.[label]).map(
    (label) => `${kind} ${name} has no label ${label}`,
  );
}
