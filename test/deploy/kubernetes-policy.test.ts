import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { ITriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { API_DEFAULTS, RUNTIME_DEFAULTS } from '@sluice/core';
import { SHUTDOWN_MARGIN_MS } from '@sluice/core/process';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import {
  containerNamed,
  loadKustomization,
  objectNamed,
  objectsOf,
  renderVariant,
  selects,
  workloadNamed,
  workloadsOf,
  type Manifest,
} from './support/kubernetes.js';
import { loadKustomizationFile } from './support/kustomize.js';
import {
  DEFAULT_GRACE_SECONDS,
  apiGraceViolations,
  apiShutdownBudgetMs,
  byteSize,
  containerViolations,
  flagValue,
  imageViolations,
  labelViolations,
  preStopSleepSeconds,
  redisImageViolations,
  redisServerViolations,
  rolloutViolations,
  scaleDownViolations,
  workerGraceViolations,
  workerShutdownBudgetMs,
} from './support/policies.js';
import { deployedApi, deployedWorker } from './support/sluice.js';

const { namespace, manifests } = loadKustomization();
const alternatives = renderVariant('hpa').filter((m) => m.object.kind === 'HorizontalPodAutoscaler');
const workloads = workloadsOf(manifests);
const api = deployedApi(manifests, namespace);
const worker = deployedWorker(manifests, namespace);

describe('every container', () => {
  const containers = workloads.flatMap((w) =>
    w.pod.containers.map((container) => ({ workload: w, container })),
  );

  it.each(containers.map((c) => [`${c.workload.name}/${c.container.name}`, c] as const))(
    '%s has probes, resources and least privilege',
    (_name, { workload, container }) => {
      expect(containerViolations(workload.pod, container)).toEqual([]);
    },
  );

  it('fails the policy without probes, limits, a read-only root or a writable /tmp', () => {
    const pod = structuredClone(worker.workload.pod);
    const container = containerNamed(pod, 'worker');
    delete container.readinessProbe;
    delete container.resources?.limits;
    container.securityContext = { ...container.securityContext, readOnlyRootFilesystem: false };
    container.volumeMounts = container.volumeMounts?.filter((m) => m.mountPath !== '/tmp');
    expect(containerViolations(pod, container)).toEqual([
      'container worker has no readinessProbe',
      'container worker has no resources.limits.cpu',
      'container worker has no resources.limits.memory',
      'container worker has a writable root filesystem',
      'container worker has no writable emptyDir on /tmp',
    ]);
  });

  it('fails the policy when it may run as root, escalate, keep capabilities or skip seccomp', () => {
    const pod = structuredClone(api.workload.pod);
    delete pod.securityContext;
    const container = containerNamed(pod, 'api');
    container.securityContext = { capabilities: { drop: ['NET_RAW'] } };
    expect(containerViolations(pod, container)).toEqual([
      'container api may run as root',
      'container api allows privilege escalation',
      'container api has a writable root filesystem',
      'container api does not drop ALL capabilities',
      'container api has no RuntimeDefault seccomp profile',
    ]);
  });

  it.each(containers.map((c) => [c.container.image ?? '(none)'] as const))('image %s is pinned', (image) => {
    expect(imageViolations(image)).toEqual([]);
  });

  it('rejects images that are not pinned to a version', () => {
    for (const image of [
      'redis',
      'redis:latest',
      'redis:7',
      'chromadb/chroma:latest',
      'ghcr.io/x/sluice-api:main',
    ]) {
      expect(imageViolations(image), image).not.toEqual([]);
    }
    expect(imageViolations(`redis@sha256:${'a'.repeat(64)}`)).toEqual([]);
    expect(imageViolations('node:24.21.0-bookworm-slim')).toEqual([]);
  });

  it('keeps the kustomization image tags pinned too', () => {
    const images = loadKustomizationFile('deploy/k8s/base').images ?? [];
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) {
      expect(imageViolations(`${image.newName ?? image.name}:${image.newTag ?? ''}`)).toEqual([]);
    }
  });
});

describe('rollouts', () => {
  it.each(
    objectsOf<IDeployment>(manifests, 'apps/v1', 'Deployment').map((d) => [d.metadata?.name, d] as const),
  )('Deployment %s surges and never drops a pod (maxUnavailable 0)', (_name, deployment) => {
    expect(rolloutViolations(deployment)).toEqual([]);
  });

  it("fails the policy on Kubernetes' default of maxUnavailable 25%", () => {
    const deployment = structuredClone(api.workload.object) as IDeployment;
    delete deployment.spec?.strategy?.rollingUpdate?.maxUnavailable;
    expect(rolloutViolations(deployment)).toEqual([
      'Deployment sluice-api has maxUnavailable undefined (must be 0; the default is 25%)',
    ]);
  });

  it('rule 4: gives the worker grace for DRAIN_TIMEOUT_MS + abort grace + SHUTDOWN_MARGIN_MS + margin, as deployed', () => {
    expect(worker.config.DRAIN_TIMEOUT_MS).toBe(
      Number(worker.env.DRAIN_TIMEOUT_MS ?? RUNTIME_DEFAULTS.drainTimeoutMs),
    );
    const grace = worker.workload.pod.terminationGracePeriodSeconds;
    expect(workerGraceViolations(grace, worker.config.DRAIN_TIMEOUT_MS)).toEqual([]);
    // The sum, from @sluice/core's own constants: 20 s + 5 s + 2 s + 5 s with the defaults.
    expect(workerShutdownBudgetMs(RUNTIME_DEFAULTS.drainTimeoutMs)).toBe(
      RUNTIME_DEFAULTS.drainTimeoutMs + RUNTIME_DEFAULTS.abortGraceMs + SHUTDOWN_MARGIN_MS + 5_000,
    );
  });

  it('rule 4, mutated: fails when DRAIN_TIMEOUT_MS grows in the manifest without the grace period', () => {
    const copy = structuredClone<Manifest[]>([...manifests]);
    const container = containerNamed(workloadNamed(copy, 'sluice-worker').pod, 'worker');
    setEnv(container, 'DRAIN_TIMEOUT_MS', '40000');
    const raised = deployedWorker(copy, namespace);
    expect(
      workerGraceViolations(
        raised.workload.pod.terminationGracePeriodSeconds,
        raised.config.DRAIN_TIMEOUT_MS,
      ),
    ).not.toEqual([]);
    // Kubernetes' default of 30 s is not enough for the defaults either.
    expect(workerGraceViolations(undefined, RUNTIME_DEFAULTS.drainTimeoutMs)).not.toEqual([]);
  });

  it('rule 4: gives the API grace for preStop + SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS + margin, as deployed', () => {
    const preStop = preStopSleepSeconds(api.container);
    expect(preStop).toBeGreaterThan(0);
    expect(api.config.SHUTDOWN_TIMEOUT_MS).toBe(
      Number(api.env.SHUTDOWN_TIMEOUT_MS ?? API_DEFAULTS.shutdownTimeoutMs),
    );
    expect(apiGraceViolations(api.workload.pod.terminationGracePeriodSeconds, preStop, api.config)).toEqual(
      [],
    );
    expect(
      apiShutdownBudgetMs(preStop, api.config.SHUTDOWN_DELAY_MS, api.config.SHUTDOWN_TIMEOUT_MS),
    ).toBeLessThanOrEqual((api.workload.pod.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS) * 1000);
  });

  it('rule 4, mutated: fails when SHUTDOWN_TIMEOUT_MS or the preStop sleep grows without the grace period', () => {
    const copy = structuredClone<Manifest[]>([...manifests]);
    const container = containerNamed(workloadNamed(copy, 'sluice-api').pod, 'api');
    setEnv(container, 'SHUTDOWN_TIMEOUT_MS', '25000');
    const raised = deployedApi(copy, namespace);
    expect(
      apiGraceViolations(
        raised.workload.pod.terminationGracePeriodSeconds,
        preStopSleepSeconds(raised.container),
        raised.config,
      ),
    ).not.toEqual([]);
    expect(
      apiGraceViolations(
        api.workload.pod.terminationGracePeriodSeconds,
        preStopSleepSeconds(api.container) + 10,
        api.config,
      ),
    ).not.toEqual([]);
  });

  it('reads preStop sleeps in every form Kubernetes runs', () => {
    expect(
      preStopSleepSeconds({ name: 'a', lifecycle: { preStop: { exec: { command: ['sleep', '5'] } } } }),
    ).toBe(5);
    expect(
      preStopSleepSeconds({
        name: 'a',
        lifecycle: { preStop: { exec: { command: ['sh', '-c', 'sleep 7'] } } },
      }),
    ).toBe(7);
    expect(preStopSleepSeconds({ name: 'a', lifecycle: { preStop: { sleep: { seconds: 3 } } } })).toBe(3);
    expect(preStopSleepSeconds({ name: 'a' })).toBe(0);
  });
});

describe('availability', () => {
  const budgets = objectsOf<IPodDisruptionBudget>(manifests, 'policy/v1', 'PodDisruptionBudget');

  it.each(['sluice-api', 'sluice-worker'])('%s has a PodDisruptionBudget that selects its pods', (name) => {
    const workload = workloadNamed(manifests, name);
    const matching = budgets.filter((b) => selects(b.spec?.selector?.matchLabels, workload.podLabels));
    expect(matching).toHaveLength(1);
    const spec = matching[0]?.spec;
    // A budget of minAvailable 100% or maxUnavailable 0 would block every node drain.
    expect(spec?.maxUnavailable ?? 1).not.toBe(0);
    expect(spec?.minAvailable).not.toBe('100%');
  });

  it.each(['sluice-api', 'sluice-worker'])(
    '%s spreads over nodes and zones without blocking scheduling',
    (name) => {
      const workload = workloadNamed(manifests, name);
      const constraints = workload.pod.topologySpreadConstraints ?? [];
      expect(constraints.map((c) => c.topologyKey).sort()).toEqual([
        'kubernetes.io/hostname',
        'topology.kubernetes.io/zone',
      ]);
      for (const constraint of constraints) {
        expect(selects(constraint.labelSelector?.matchLabels, workload.podLabels)).toBe(true);
        // DoNotSchedule on a one-node or one-zone cluster would leave the surge pod Pending.
        expect(constraint.whenUnsatisfiable).toBe('ScheduleAnyway');
      }
    },
  );

  it('keeps every pod template labelled with its selector; versions only where the manifest pins the image', () => {
    for (const workload of workloads) {
      const selector = workload.object.spec?.selector.matchLabels;
      expect(selects(selector, workload.podLabels), workload.name).toBe(true);
      // Our images get their tag from `kustomize edit set image`: a version label in the
      // manifest would go stale. The image itself carries SLUICE_RELEASE.
      const ours = ['sluice-api', 'sluice-worker'].includes(workload.name);
      expect(workload.podLabels['app.kubernetes.io/version'] === undefined, workload.name).toBe(ours);
    }
  });

  it('labels every object with the recommended app.kubernetes.io labels', () => {
    const violations = [...manifests, ...alternatives].flatMap(({ object }) =>
      labelViolations(object.kind, object.metadata.name, object.metadata.labels),
    );
    expect(violations).toEqual([]);
    expect(labelViolations('ConfigMap', 'x', { 'app.kubernetes.io/name': 'x' })).toHaveLength(3);
  });

  it('enforces the restricted Pod Security Standard on the namespace', () => {
    const object = objectNamed<INamespace>(manifests, 'v1', 'Namespace', namespace);
    expect(object.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });
});

describe('autoscaling', () => {
  const scaledObject = objectNamed<IScaledObject>(
    manifests,
    'keda.sh/v1alpha1',
    'ScaledObject',
    'sluice-worker',
  );
  const hpa = objectNamed<IHorizontalPodAutoscaler>(
    alternatives,
    'autoscaling/v2',
    'HorizontalPodAutoscaler',
    'sluice-worker',
  );
  const grace = worker.workload.pod.terminationGracePeriodSeconds;

  it('lets the autoscaler own the worker count: the Deployment sets no replicas', () => {
    // `kubectl apply` would otherwise reset the count on every deploy, draining workers for nothing.
    expect((worker.workload.object as IDeployment).spec?.replicas).toBeUndefined();
    expect(scaledObject.spec.scaleTargetRef).toMatchObject({
      kind: 'Deployment',
      name: worker.workload.name,
    });
    expect(hpa.spec?.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: worker.workload.name });
  });

  it('scales down at most one worker per grace period, after a stabilization window (KEDA)', () => {
    expect(
      scaleDownViolations(scaledObject.spec.advanced?.horizontalPodAutoscalerConfig?.behavior, grace),
    ).toEqual([]);
  });

  it('scales down the same way with the HPA alternative, between the same bounds', () => {
    expect(scaleDownViolations(hpa.spec?.behavior, grace)).toEqual([]);
    expect([hpa.spec?.minReplicas, hpa.spec?.maxReplicas]).toEqual([
      scaledObject.spec.minReplicaCount,
      scaledObject.spec.maxReplicaCount,
    ]);
  });

  it('keeps warm workers: at least two, so that a drain never leaves the queue without a consumer', () => {
    expect(scaledObject.spec.minReplicaCount ?? 0).toBeGreaterThanOrEqual(2);
    expect(scaledObject.spec.maxReplicaCount ?? 0).toBeGreaterThan(scaledObject.spec.minReplicaCount ?? 0);
  });

  it('fails the scale-down policy when it removes workers faster than they drain', () => {
    const fast = { scaleDown: { policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] } };
    expect(scaleDownViolations(fast, grace)).toEqual([
      `scaleDown may remove more than one worker per ${grace ?? DEFAULT_GRACE_SECONDS} s grace period`,
    ]);
    const twoAtOnce = { scaleDown: { policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }] } };
    expect(scaleDownViolations(twoAtOnce, grace)).not.toEqual([]);
    const tooOften = { scaleDown: { policies: [{ type: 'Pods', value: 1, periodSeconds: 15 }] } };
    expect(scaleDownViolations(tooOften, grace)).not.toEqual([]);
    const noWindow = {
      scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
    };
    expect(scaleDownViolations(noWindow, grace)).toEqual([
      'scaleDown stabilizationWindowSeconds 0 is under 60',
    ]);
    expect(scaleDownViolations(undefined, grace)).not.toEqual([]);
  });
});

describe('state', () => {
  const redis = workloadNamed(manifests, 'sluice-redis');
  const chroma = workloadNamed(manifests, 'sluice-chroma');

  const redisContainer = containerNamed(redis.pod, 'redis');
  const redisArgs = (container: IContainer) => [...(container.command ?? []), ...(container.args ?? [])];
  const memoryLimit = (container: IContainer) => {
    const limit = container.resources?.limits?.memory;
    return limit === undefined ? undefined : byteSize(String(limit));
  };

  it('rule 2: runs Redis with AOF, noeviction, a password and maxmemory at 60-70 % of its memory limit', () => {
    expect(redisServerViolations(redisArgs(redisContainer), memoryLimit(redisContainer))).toEqual([]);
  });

  it('rule 2, mutated: fails without a password, with eviction, or with maxmemory near the limit', () => {
    const args = redisArgs(redisContainer);
    const without = (flag: string) => args.filter((_, i) => args[i] !== flag && args[i - 1] !== flag);
    expect(redisServerViolations(without('--requirepass'), memoryLimit(redisContainer))).toEqual([
      'redis-server runs without --requirepass',
    ]);
    const evicting = args.map((a) => (a === 'noeviction' ? 'allkeys-lru' : a));
    expect(redisServerViolations(evicting, memoryLimit(redisContainer))).toEqual([
      'redis-server runs without --maxmemory-policy noeviction',
    ]);
    const greedy = args.map((a, i) => (args[i - 1] === '--maxmemory' ? '960mb' : a));
    expect(redisServerViolations(greedy, memoryLimit(redisContainer))).toEqual([
      'maxmemory 960mb is 94 % of the memory limit (60-70 % leaves the AOF rewrite room)',
    ]);
  });

  it('rule 2: Redis does not start with an empty password (which would turn authentication off)', () => {
    const guard = (redis.pod.initContainers ?? []).find((c) => c.name === 'require-password');
    expect(guard, 'an init container checking REDIS_PASSWORD').toBeDefined();
    expect(guard!.env?.find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toMatchObject({
      key: 'REDIS_PASSWORD',
    });
    // Its script, run here as the kubelet would run it.
    const [command, ...args] = guard!.command!;
    const run = (password: string) =>
      spawnSync(command!, args, {
        env: { PATH: process.env.PATH, REDIS_PASSWORD: password },
        encoding: 'utf8',
      });
    const empty = run('');
    expect(empty.status).toBe(1);
    expect(empty.stderr).toMatch(/REDIS_PASSWORD is empty.*secrets\.env/);
    expect(run('0123456789abcdef0123456789abcdef').status).toBe(0);
  });

  it('rule 2: takes the password from the Secret, never a literal in the manifest', () => {
    const password = flagValue(redisArgs(redisContainer), '--requirepass') ?? '';
    expect(passwordSourceViolations(redisContainer, password)).toEqual([]);
    expect(passwordSourceViolations(redisContainer, 'hunter2-hunter2')).toEqual([
      '--requirepass is a literal, not $(VARIABLE)',
    ]);
  });

  it('rule 2: pins Redis to a release with the CVE-2025-49844 and CVE-2025-21605 fixes', () => {
    expect(redisImageViolations(redisContainer.image ?? '')).toEqual([]);
    for (const old of ['redis:7.4.2', 'redis:7.4.5', 'redis:8.2.1', 'redis:7.2.4', 'redis:8.0.2'])
      expect(redisImageViolations(old), old).not.toEqual([]);
    for (const fixed of ['redis:7.4.6', 'redis:7.4.7', 'redis:8.2.2', 'redis:8.4.0'])
      expect(redisImageViolations(fixed), fixed).toEqual([]);
  });

  it('rule 2: REDIS_URL in the ConfigMap carries no password; the API and workers read REDIS_PASSWORD from the Secret', () => {
    const configMaps = objectsOf<IConfigMap>(manifests, 'v1', 'ConfigMap');
    expect(redisConfigViolations(configMaps, [api.container, worker.container])).toEqual([]);
    expect(api.config.REDIS_PASSWORD).toBeTruthy();
    expect(worker.config.REDIS_PASSWORD).toBe(api.config.REDIS_PASSWORD);
  });

  it('rule 2, mutated: fails with a password in REDIS_URL, REDIS_PASSWORD in the ConfigMap, or none on a container', () => {
    const configMaps = structuredClone(objectsOf<IConfigMap>(manifests, 'v1', 'ConfigMap'));
    const [config] = configMaps;
    if (!config?.data) throw new Error('no ConfigMap');
    config.data.REDIS_URL = 'redis://:secret@sluice-redis:6379';
    config.data.REDIS_PASSWORD = 'secret';
    const bare = structuredClone(worker.container);
    bare.env = bare.env?.filter((e) => e.name !== 'REDIS_PASSWORD');
    expect(redisConfigViolations(configMaps, [api.container, bare]).sort()).toEqual([
      `ConfigMap ${config.metadata?.name} holds REDIS_PASSWORD`,
      `ConfigMap ${config.metadata?.name}: REDIS_URL carries a password`,
      'container worker does not read REDIS_PASSWORD from a Secret',
    ]);
  });

  it('rule 2: KEDA authenticates through a TriggerAuthentication that reads the same Secret key', () => {
    expect(kedaAuthViolations(manifests)).toEqual([]);
    const copy = structuredClone<Manifest[]>([...manifests]);
    const scaled = objectNamed<IScaledObject>(copy, 'keda.sh/v1alpha1', 'ScaledObject', 'sluice-worker');
    const [first] = scaled.spec.triggers;
    if (first) {
      delete first.authenticationRef;
      first.metadata.password = 'secret';
    }
    expect(kedaAuthViolations(copy)).toEqual([
      'trigger waiting has no authenticationRef',
      'trigger waiting has a password in its metadata',
    ]);
  });

  it.each([
    ['sluice-redis', redis],
    ['sluice-chroma', chroma],
  ])('%s is a single replica on its own ReadWriteOnce volume', (_name, workload) => {
    const statefulSet = workload.object as IStatefulSet;
    expect(workload.kind).toBe('StatefulSet');
    expect(statefulSet.spec?.replicas).toBe(1);
    const [claim] = statefulSet.spec?.volumeClaimTemplates ?? [];
    expect(claim?.spec?.accessModes).toEqual(['ReadWriteOnce']);
    const mounts = workload.pod.containers.flatMap((c) => c.volumeMounts ?? []);
    expect(mounts.find((m) => m.name === claim?.metadata?.name)?.mountPath).toBe('/data');
  });

  it('stops the old Chroma pod before the new one starts: one writer', () => {
    const statefulSet = chroma.object as IStatefulSet;
    // A StatefulSet replaces ordinal 0 only after it is gone; a Deployment would surge a second writer.
    expect(statefulSet.spec?.podManagementPolicy ?? 'OrderedReady').toBe('OrderedReady');
    expect(statefulSet.spec?.updateStrategy?.type ?? 'RollingUpdate').toBe('RollingUpdate');
  });

  it('shares the uploads volume ReadWriteMany between the API and the workers (base)', () => {
    const claim = objectNamed<IPersistentVolumeClaim>(
      manifests,
      'v1',
      'PersistentVolumeClaim',
      'sluice-uploads',
    );
    expect(claim.spec?.accessModes).toEqual(['ReadWriteMany']);
    for (const deployed of [api, worker]) {
      const volume = deployed.workload.pod.volumes?.find(
        (v) => v.persistentVolumeClaim?.claimName === claim.metadata?.name,
      );
      const mount = deployed.container.volumeMounts?.find((m) => m.name === volume?.name);
      expect(mount?.mountPath, deployed.workload.name).toBe(deployed.config.STORAGE_DIR);
      expect(mount?.readOnly ?? false).toBe(false);
    }
  });
});

function setEnv(container: IContainer, name: string, value: string): void {
  container.env = [...(container.env ?? []).filter((e) => e.name !== name), { name, value }];
}

/** `--requirepass` must be `$(VAR)` with VAR from a Secret of the same container. */
function passwordSourceViolations(container: IContainer, value: string): string[] {
  const variable = /^\$\(([A-Z_][A-Z0-9_]*)\)$/.exec(value)?.[1];
  if (!variable) return ['--requirepass is a literal, not $(VARIABLE)'];
  const entry = container.env?.find((e) => e.name === variable);
  return entry?.valueFrom?.secretKeyRef ? [] : [`$(${variable}) is not read from a Secret`];
}

/** Rule 2's split: the URL in the ConfigMap, the password from the Secret. */
function redisConfigViolations(
  configMaps: readonly IConfigMap[],
  containers: readonly IContainer[],
): string[] {
  const violations: string[] = [];
  for (const config of configMaps) {
    const url = config.data?.REDIS_URL;
    if (url && new URL(url.replace(/^rediss?(\+\w+)?:/, 'http:')).password) {
      violations.push(`ConfigMap ${config.metadata?.name}: REDIS_URL carries a password`);
    }
    if (config.data?.REDIS_PASSWORD !== undefined)
      violations.push(`ConfigMap ${config.metadata?.name} holds REDIS_PASSWORD`);
  }
  for (const container of containers) {
    const entry = container.env?.find((e) => e.name === 'REDIS_PASSWORD');
    if (!entry?.valueFrom?.secretKeyRef)
      violations.push(`container ${container.name} does not read REDIS_PASSWORD from a Secret`);
  }
  return violations;
}

/** Every redis trigger authenticates through a TriggerAuthentication mapping `password` to REDIS_PASSWORD. */
function kedaAuthViolations(objects: readonly Manifest[]): string[] {
  const scaled = objectNamed<IScaledObject>(objects, 'keda.sh/v1alpha1', 'ScaledObject', 'sluice-worker');
  const auths = objectsOf<ITriggerAuthentication>(objects, 'keda.sh/v1alpha1', 'TriggerAuthentication');
  const redisSecret = containerNamed(workloadNamed(objects, 'sluice-redis').pod, 'redis').env?.find(
    (e) => e.name === 'REDIS_PASSWORD',
  )?.valueFrom?.secretKeyRef;
  const violations: string[] = [];
  for (const trigger of scaled.spec.triggers.filter((t) => t.type === 'redis')) {
    const name = trigger.name ?? trigger.type;
    const auth = auths.find((a) => a.metadata?.name === trigger.authenticationRef?.name);
    if (!trigger.authenticationRef) violations.push(`trigger ${name} has no authenticationRef`);
    else if (!auth) violations.push(`trigger ${name} names a TriggerAuthentication that does not exist`);
    else {
      const ref = auth.spec.secretTargetRef?.find((r) => r.parameter === 'password');
      if (ref?.name !== redisSecret?.name || ref?.key !== redisSecret?.key) {
        violations.push(`TriggerAuthentication ${auth.metadata?.name} does not read Redis's password`);
      }
    }
    if (Object.keys(trigger.metadata).some((k) => /password/i.test(k) && !k.endsWith('FromEnv')))
      violations.push(`trigger ${name} has a password in its metadata`);
  }
  return violations;
}
