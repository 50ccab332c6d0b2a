import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscalerBehavior } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscalerBehavior';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { RUNTIME_DEFAULTS } from '@sluice/core';
import { SHUTDOWN_MARGIN_MS } from '@sluice/core/process';

/*
 * The deploy files' policies as pure functions: each returns what is wrong, empty when nothing
 * is, so that the tests can show both that the real files pass and that a broken copy fails.
 */

/**
 * Beyond what the worker process allows itself (DRAIN_TIMEOUT_MS + abort grace +
 * SHUTDOWN_MARGIN_MS, after which it exits whatever still hangs), time for the kubelet or Docker
 * to deliver the signal and for tini to pass the exit on.
 */
export const WORKER_GRACE_MARGIN_MS = 5_000;

/**
 * Beyond preStop + SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS, time for the API to wait for a quiet
 * listener (up to 1 s), close Redis and exit.
 */
export const API_GRACE_MARGIN_MS = 5_000;

/** Kubernetes' terminationGracePeriodSeconds when a pod sets none; Docker's default is 10 s. */
export const DEFAULT_GRACE_SECONDS = 30;

/** The longest a worker may need after SIGTERM, from its configuration and @sluice/core's own constants. */
export function workerShutdownBudgetMs(drainTimeoutMs: number): number {
  return drainTimeoutMs + RUNTIME_DEFAULTS.abortGraceMs + SHUTDOWN_MARGIN_MS + WORKER_GRACE_MARGIN_MS;
}

/** The longest an API pod may need after deletion: preStop, then SIGTERM's delay and timeout. */
export function apiShutdownBudgetMs(
  preStopSeconds: number,
  shutdownDelayMs: number,
  shutdownTimeoutMs: number,
): number {
  return preStopSeconds * 1000 + shutdownDelayMs + shutdownTimeoutMs + API_GRACE_MARGIN_MS;
}

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

/** The worker's grace period must cover DRAIN_TIMEOUT_MS + abort grace + SHUTDOWN_MARGIN_MS + margin. */
export function workerGraceViolations(graceSeconds: number | undefined, drainTimeoutMs: number): string[] {
  const graceMs = (graceSeconds ?? DEFAULT_GRACE_SECONDS) * 1000;
  const neededMs = workerShutdownBudgetMs(drainTimeoutMs);
  return graceMs >= neededMs
    ? []
    : [
        `worker grace ${graceMs} ms is less than DRAIN_TIMEOUT_MS ${drainTimeoutMs} + abort grace ` +
          `${RUNTIME_DEFAULTS.abortGraceMs} + SHUTDOWN_MARGIN_MS ${SHUTDOWN_MARGIN_MS} + margin ${WORKER_GRACE_MARGIN_MS} ms`,
      ];
}

/** The API's grace period must cover preStop + SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS + margin. */
export function apiGraceViolations(
  graceSeconds: number | undefined,
  preStopSeconds: number,
  config: { readonly SHUTDOWN_DELAY_MS: number; readonly SHUTDOWN_TIMEOUT_MS: number },
): string[] {
  const graceMs = (graceSeconds ?? DEFAULT_GRACE_SECONDS) * 1000;
  const neededMs = apiShutdownBudgetMs(preStopSeconds, config.SHUTDOWN_DELAY_MS, config.SHUTDOWN_TIMEOUT_MS);
  return graceMs >= neededMs
    ? []
    : [
        `API grace ${graceMs} ms is less than preStop ${preStopSeconds * 1000} + SHUTDOWN_DELAY_MS ` +
          `${config.SHUTDOWN_DELAY_MS} + SHUTDOWN_TIMEOUT_MS ${config.SHUTDOWN_TIMEOUT_MS} + margin ${API_GRACE_MARGIN_MS} ms`,
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

/** The value after `flag` in an argv, if any. */
export function flagValue(args: readonly string[], flag: string): string | undefined {
  const index = args.indexOf(flag);
  return index < 0 ? undefined : args[index + 1];
}

/**
 * Redis as BullMQ and this deployment need it: AOF persistence, no eviction, a password, and a
 * `maxmemory` of 60-70 % of the container's memory limit (an AOF rewrite forks Redis; the child's
 * copy-on-write pages count against the same limit).
 */
export function redisServerViolations(
  args: readonly string[],
  memoryLimitBytes: number | undefined,
): string[] {
  const violations: string[] = [];
  if (flagValue(args, '--appendonly') !== 'yes')
    violations.push('redis-server runs without --appendonly yes');
  if (flagValue(args, '--maxmemory-policy') !== 'noeviction') {
    violations.push('redis-server runs without --maxmemory-policy noeviction');
  }
  if (!flagValue(args, '--requirepass')) violations.push('redis-server runs without --requirepass');
  const maxmemory = flagValue(args, '--maxmemory');
  if (memoryLimitBytes === undefined) violations.push('Redis has no memory limit');
  else if (maxmemory === undefined) violations.push('redis-server runs without --maxmemory');
  else {
    const ratio = byteSize(maxmemory) / memoryLimitBytes;
    if (ratio < 0.6 || ratio > 0.7) {
      violations.push(
        `maxmemory ${maxmemory} is ${Math.round(ratio * 100)} % of the memory limit (60-70 % leaves the AOF rewrite room)`,
      );
    }
  }
  return violations;
}

/**
 * The Redis releases with the fixes for CVE-2025-49844 (Lua use-after-free) and CVE-2025-21605
 * (unauthenticated output-buffer growth), by release line: a pinned image below them fails.
 */
export const PATCHED_REDIS = { '7.4': 6, '8.2': 2 } as const;

/** A Redis image older than {@link PATCHED_REDIS}, or on a line without a fix, is a violation. */
export function redisImageViolations(image: string): string[] {
  const match = /^(?:docker\.io\/)?(?:library\/)?redis:(\d+)\.(\d+)\.(\d+)(?:[-.][\w.-]+)?$/.exec(image);
  if (!match) return [`${image} is not a redis image pinned to major.minor.patch`];
  const [major, minor, patch] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const line = `${major}.${minor}` as keyof typeof PATCHED_REDIS;
  const fixed = PATCHED_REDIS[line];
  if (fixed !== undefined) {
    return patch >= fixed ? [] : [`${image} predates ${line}.${fixed} (CVE-2025-49844, CVE-2025-21605)`];
  }
  // A later line than the newest fixed one carries the fixes; an older or in-between one does not.
  return major > 8 || (major === 8 && minor > 2)
    ? []
    : [`${image} is on a Redis line without the CVE-2025-49844 fix pinned here`];
}

/** Bytes in a Kubernetes quantity (`1Gi`, `768Mi`), a Redis size (`640mb`, `1gb`) or a Compose size (`1g`). */
export function byteSize(size: string): number {
  const match = /^(\d+)([A-Za-z]*)$/.exec(size.trim());
  const units: Record<string, number> = {
    '': 1,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    kb: 2 ** 10,
    mb: 2 ** 20,
    gb: 2 ** 30,
    k: 2 ** 10,
    m: 2 ** 20,
    g: 2 ** 30,
  };
  const unit = units[match?.[2] ?? 'x'];
  if (!match || unit === undefined) throw new Error(`unknown size ${size}`);
  return Number(match[1]) * unit;
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
