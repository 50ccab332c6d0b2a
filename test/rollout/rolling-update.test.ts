import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  loadDeploymentSpec,
  resolveIntOrPercent,
  rollingUpdateBounds,
  type DeploymentSpec,
} from './deployment-spec.js';
import type { PodTemplate } from './replica-set.js';
import { Deployment } from './rolling-update.js';

const FIXTURE = 'test/rollout/fixtures/http-pod.mjs';

/** A Deployment spec for the stand-in pod, with the manifests' shape and quick timings. */
function spec(overrides: Partial<DeploymentSpec> = {}): DeploymentSpec {
  return {
    name: 'fixture',
    container: 'fixture',
    replicas: 3,
    maxSurge: 1,
    maxUnavailable: 0,
    minReadySeconds: 0,
    terminationGracePeriodSeconds: 30,
    preStopSleepSeconds: 0,
    readinessProbe: {
      path: '/api/health',
      port: 0,
      initialDelaySeconds: 0,
      periodSeconds: 1,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 1,
    },
    startupProbe: undefined,
    env: {},
    version: 'v1',
    ...overrides,
  };
}

function template(release: string, env: Record<string, string> = {}): PodTemplate {
  return { release, script: FIXTURE, env, portVariable: 'PORT' };
}

const deployments: Deployment[] = [];
afterEach(async () => {
  await Promise.all(deployments.splice(0).map((d) => d.kill()));
});

describe('deployment-spec', () => {
  it('reads the worker and API Deployments from deploy/k8s', () => {
    const worker = loadDeploymentSpec('sluice-worker');
    expect(worker).toMatchObject({
      replicas: undefined,
      maxSurge: 1,
      maxUnavailable: 0,
      preStopSleepSeconds: 0,
    });
    expect(worker.readinessProbe).toMatchObject({ path: '/api/health', port: 3002 });
    expect(worker.terminationGracePeriodSeconds * 1000).toBeGreaterThan(Number(worker.env.DRAIN_TIMEOUT_MS));
    // The release is the image's, baked in: not in the manifest, named by the image tag.
    expect(worker.env.SLUICE_RELEASE).toBeUndefined();
    expect(worker.version).toMatch(/^\d+\.\d+\.\d+/);
    const api = loadDeploymentSpec('sluice-api');
    expect(api).toMatchObject({ replicas: 2, preStopSleepSeconds: 5 });
    expect(api.readinessProbe).toMatchObject({ path: '/api/health', port: 3001 });
    expect(api.env.AUTH_JWT_SECRET?.length).toBeGreaterThanOrEqual(32);
  });

  it('resolves maxSurge and maxUnavailable as the Deployment controller does', () => {
    expect(resolveIntOrPercent('25%', 3, true)).toBe(1);
    expect(resolveIntOrPercent('25%', 3, false)).toBe(0);
    expect(rollingUpdateBounds({ maxSurge: '25%', maxUnavailable: '25%' }, 10)).toEqual({
      maxSurge: 3,
      maxUnavailable: 2,
    });
    expect(rollingUpdateBounds({ maxSurge: 0, maxUnavailable: '10%' }, 3)).toEqual({
      maxSurge: 0,
      maxUnavailable: 1,
    });
  });
});

describe('Deployment (the lab’s RollingUpdate)', () => {
  it(
    'maxSurge 1, maxUnavailable 0: never more than 4 pods, never fewer than 3 available, one new pod at a time',
    { timeout: 60_000 },
    async () => {
      const deployment = new Deployment({
        spec: spec(),
        template: template('v1'),
        timing: { probePeriodMs: 100 },
      });
      deployments.push(deployment);
      await deployment.start();
      let maxActive = 0;
      let minAvailable = Infinity;
      let watching = true;
      const watch = (async () => {
        while (watching) {
          maxActive = Math.max(maxActive, deployment.activePods().length);
          minAvailable = Math.min(minAvailable, deployment.activePods().filter((p) => p.available()).length);
          await sleep(20);
        }
      })();
      const result = await deployment.rollout(template('v2'));
      watching = false;
      await watch;
      expect(maxActive).toBe(4);
      expect(minAvailable).toBe(3);
      expect(result.terminations.map((t) => [t.release, t.code])).toEqual([
        ['v1', 0],
        ['v1', 0],
        ['v1', 0],
      ]);
      expect(deployment.activePods().map((p) => p.release)).toEqual(['v2', 'v2', 'v2']);
      // Every old pod was deleted only once a new one had become available.
      const newReady = deployment.current.pods.map((p) => p.readySince ?? Infinity).sort((a, b) => a - b);
      result.terminations.forEach((t, i) =>
        expect(t.deletedAt).toBeGreaterThanOrEqual(newReady[i] ?? Infinity),
      );
    },
  );

  it(
    'runs the preStop sleep before SIGTERM and SIGKILLs a pod that outlives its grace period',
    { timeout: 30_000 },
    async () => {
      const deployment = new Deployment({
        spec: spec({ replicas: 1, preStopSleepSeconds: 1, terminationGracePeriodSeconds: 2 }),
        template: template('v1', { TERM_EXIT_MS: 'never' }),
        timing: { probePeriodMs: 100 },
      });
      deployments.push(deployment);
      await deployment.start();
      const result = await deployment.scale(0);
      const [termination] = result.terminations;
      if (!termination?.sigtermAt) throw new Error('the pod got no SIGTERM');
      // Less a few ms: timers round to the ms and may fire that much before Date.now() says.
      const tick = 5;
      expect(termination.sigtermAt - termination.deletedAt).toBeGreaterThanOrEqual(1000 - tick);
      expect(termination.killedAfterGrace).toBe(true);
      expect(termination.signal).toBe('SIGKILL');
      expect(termination.exitedAt - termination.deletedAt).toBeGreaterThanOrEqual(2000 - tick);
    },
  );

  it(
    'restarts a SIGKILLed container in the same pod (kubelet restart policy)',
    { timeout: 30_000 },
    async () => {
      const deployment = new Deployment({
        spec: spec({ replicas: 1 }),
        template: template('v1'),
        timing: { probePeriodMs: 100 },
      });
      deployments.push(deployment);
      await deployment.start();
      const [pod] = deployment.activePods();
      expect(pod?.killContainer()).toBe(true);
      const deadline = Date.now() + 10_000;
      while (!(pod?.ready && pod.restarts === 1) && Date.now() < deadline) await sleep(50);
      expect(pod?.restarts).toBe(1);
      expect(pod?.containers).toHaveLength(2);
      expect(pod?.ready).toBe(true);
    },
  );
});
