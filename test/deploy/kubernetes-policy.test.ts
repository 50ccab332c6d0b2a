import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { describe, expect, it } from 'vitest';
import {
  containerNamed,
  loadAlternatives,
  loadKustomization,
  objectNamed,
  objectsOf,
  selects,
  workloadNamed,
  workloadsOf,
} from './support/kubernetes.js';
import {
  DEFAULT_GRACE_SECONDS,
  apiGraceViolations,
  containerViolations,
  imageViolations,
  labelViolations,
  preStopSleepSeconds,
  redisServerViolations,
  rolloutViolations,
  scaleDownViolations,
  workerGraceViolations,
} from './support/policies.js';
import { deployedApi, deployedWorker } from './support/sluice.js';

const { kustomization, manifests } = loadKustomization();
const alternatives = loadAlternatives();
const workloads = workloadsOf(manifests);
const api = deployedApi(manifests, kustomization.namespace);
const worker = deployedWorker(manifests, kustomization.namespace);

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
    for (const image of kustomization.images ?? []) {
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

  it('gives the worker more grace than DRAIN_TIMEOUT_MS + abort grace + margin, DRAIN_TIMEOUT_MS as deployed', () => {
    expect(worker.config.DRAIN_TIMEOUT_MS).toBe(Number(worker.env.DRAIN_TIMEOUT_MS ?? 20_000));
    expect(
      workerGraceViolations(
        worker.workload.pod.terminationGracePeriodSeconds,
        worker.config.DRAIN_TIMEOUT_MS,
      ),
    ).toEqual([]);
  });

  it('fails the worker policy when DRAIN_TIMEOUT_MS grows without the grace period', () => {
    const grace = worker.workload.pod.terminationGracePeriodSeconds;
    expect(workerGraceViolations(grace, worker.config.DRAIN_TIMEOUT_MS + 20_000)).not.toEqual([]);
    // Kubernetes' default of 30 s is not enough for the defaults: 20 s + 5 s + 10 s.
    expect(workerGraceViolations(undefined, 20_000)).not.toEqual([]);
  });

  it('gives the API grace for preStop + SHUTDOWN_DELAY_MS + margin, as deployed', () => {
    const preStop = preStopSleepSeconds(api.container);
    expect(preStop).toBeGreaterThan(0);
    expect(
      apiGraceViolations(
        api.workload.pod.terminationGracePeriodSeconds,
        preStop,
        api.config.SHUTDOWN_DELAY_MS,
      ),
    ).toEqual([]);
    expect(
      apiGraceViolations(
        api.workload.pod.terminationGracePeriodSeconds,
        preStop + 20,
        api.config.SHUTDOWN_DELAY_MS,
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

  it('keeps every pod template labelled with its selector and version', () => {
    for (const workload of workloads) {
      const selector = workload.object.spec?.selector.matchLabels;
      expect(selects(selector, workload.podLabels), workload.name).toBe(true);
      expect(workload.podLabels['app.kubernetes.io/version'], workload.name).toBeTruthy();
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
    const namespace = objectNamed<INamespace>(manifests, 'v1', 'Namespace', kustomization.namespace);
    expect(namespace.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
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

  it('runs Redis with AOF and noeviction, below its memory limit', () => {
    const container = containerNamed(redis.pod, 'redis');
    const args = [...(container.command ?? []), ...(container.args ?? [])];
    expect(redisServerViolations(args)).toEqual([]);
    const maxmemory = args[args.indexOf('--maxmemory') + 1] ?? '';
    expect(bytes(maxmemory)).toBeLessThan(bytes(String(container.resources?.limits?.memory)));
    expect(redisServerViolations(['redis-server', '--appendonly', 'no'])).toEqual([
      'redis-server runs without --appendonly yes',
      'redis-server runs without --maxmemory-policy noeviction',
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

  it('shares the uploads volume ReadWriteMany between the API and the workers', () => {
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

/** Bytes in a Kubernetes quantity (`1Gi`, `768Mi`) or a Redis size (`768mb`, `1gb`). */
function bytes(size: string): number {
  const match = /^(\d+)([A-Za-z]*)$/.exec(size);
  const units: Record<string, number> = {
    '': 1,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    kb: 2 ** 10,
    mb: 2 ** 20,
    gb: 2 ** 30,
  };
  const unit = units[match?.[2] ?? 'x'];
  if (!match || unit === undefined) throw new Error(`unknown size ${size}`);
  return Number(match[1]) * unit;
}
