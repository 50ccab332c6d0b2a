import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { apiEnvSchema, workerEnvSchema } from '@sluice/core';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IService } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { loadCompose } from './support/compose.js';
import { startHealthServer } from './support/health-server.js';
import { containerEnv } from './support/kubernetes-env.js';
import {
  containerNamed,
  loadKustomization,
  objectNamed,
  objectsOf,
  selects,
  workloadNamed,
  workloadsOf,
  type Manifest,
} from './support/kubernetes.js';
import { PROBE_PATHS, QUEUE_NAME, SLUICE_PROCESSES, deployedApi, deployedWorker } from './support/sluice.js';

const { kustomization, manifests } = loadKustomization();
const namespace = kustomization.namespace;
const api = deployedApi(manifests, namespace);
const worker = deployedWorker(manifests, namespace);
const services = objectsOf<IService>(manifests, 'v1', 'Service');

/** The container port a probe or Service port refers to, by number or by name. */
function containerPort(container: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number')
    return container.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

function httpProbe(probe: IProbe | undefined): {
  path: string | undefined;
  port: number | string | undefined;
} {
  return { path: probe?.httpGet?.path, port: probe?.httpGet?.port };
}

/** Variables a container sets that its process's schema does not read. */
function unknownVariables(env: Readonly<Record<string, string>>, known: readonly string[]): string[] {
  return Object.keys(env).filter((name) => !known.includes(name));
}

/** Host and port of a `redis://` or `http://` URL. */
function hostAndPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}

function serviceNamed(name: string): IService {
  return objectNamed<IService>(manifests, 'v1', 'Service', name);
}

describe('environment', () => {
  it.each([
    ['api', api.env, Object.keys(apiEnvSchema.shape)],
    ['worker', worker.env, Object.keys(workerEnvSchema.shape)],
  ])('the %s container sets only variables its schema reads', (_name, env, known) => {
    expect(unknownVariables(env, known)).toEqual([]);
  });

  it('would catch a variable the process does not read, from env or from the ConfigMap', () => {
    const copy = structuredClone<Manifest[]>([...manifests]);
    const workload = workloadNamed(copy, SLUICE_PROCESSES.worker.workload);
    const container = containerNamed(workload.pod, 'worker');
    container.env = [...(container.env ?? []), { name: 'DRAIN_TIMEOUT', value: '60000' }];
    const [configMap] = objectsOf<IConfigMap>(copy, 'v1', 'ConfigMap');
    if (!configMap) throw new Error('no ConfigMap');
    configMap.data = { ...configMap.data, REDIS_HOST: 'sluice-redis' };
    const env = containerEnv(copy, workload, container, { namespace });
    expect(unknownVariables(env, Object.keys(workerEnvSchema.shape)).sort()).toEqual([
      'DRAIN_TIMEOUT',
      'REDIS_HOST',
    ]);
  });

  it('resolves every ConfigMap and Secret reference, and refuses a dangling one', () => {
    // deployedApi/deployedWorker above already resolved (and parsed) every reference.
    expect(api.env.AUTH_JWT_SECRET).toBeTruthy();
    const copy = structuredClone<Manifest[]>([...manifests]);
    const workload = workloadNamed(copy, SLUICE_PROCESSES.api.workload);
    const container = containerNamed(workload.pod, 'api');
    container.envFrom = [{ configMapRef: { name: 'sluice-confg' } }];
    expect(() => containerEnv(copy, workload, container, { namespace })).toThrow(/sluice-confg/);
  });

  it('gives values the processes accept: their own schemas parse them (see deployedApi/deployedWorker)', () => {
    expect(api.config.AUTH_DISABLED).toBe(false);
    expect(api.config.STORAGE_DIR).toBe(worker.config.STORAGE_DIR);
    expect(api.config.SLUICE_PREFIX).toBe(worker.config.SLUICE_PREFIX);
    expect(worker.config.SLUICE_RELEASE).toBe(worker.workload.podLabels['app.kubernetes.io/version']);
  });
});

describe('ports and probe paths', () => {
  it.each([
    ['api', api.container, api.config.PORT],
    ['worker', worker.container, worker.config.HEALTH_PORT],
  ])(
    'the %s probes hit the port it listens on, at its readiness and liveness paths',
    (_name, container, port) => {
      expect(container.ports?.map((p) => p.containerPort)).toEqual([port]);
      const readiness = httpProbe(container.readinessProbe);
      const liveness = httpProbe(container.livenessProbe);
      const startup = httpProbe(container.startupProbe);
      expect([readiness.path, liveness.path, startup.path]).toEqual([
        PROBE_PATHS.readiness,
        PROBE_PATHS.liveness,
        PROBE_PATHS.liveness,
      ]);
      for (const probe of [readiness, liveness, startup])
        expect(containerPort(container, probe.port)).toBe(port);
    },
  );

  it.each([
    ['api', api.workload.object.spec?.template.metadata?.annotations, api.config.PORT],
    ['worker', worker.workload.object.spec?.template.metadata?.annotations, worker.config.HEALTH_PORT],
  ])('the %s scrape annotations name its metrics port and path', (_name, annotations, port) => {
    expect(annotations?.['prometheus.io/port']).toBe(String(port));
    expect(annotations?.['prometheus.io/path']).toBe(PROBE_PATHS.metrics);
  });

  it("serves those paths with the semantics the probes rely on (@sluice/core's health server)", async () => {
    const server = await startHealthServer();
    try {
      const status = async (path: string) => (await fetch(`${server.url}${path}`)).status;
      expect(await status(PROBE_PATHS.readiness)).toBe(200);
      expect(await status(PROBE_PATHS.liveness)).toBe(200);
      expect(await status(PROBE_PATHS.metrics)).toBe(200);
      server.setDraining(true);
      // Readiness drops at once; liveness stays up, or the kubelet would kill a draining worker.
      expect(await status(PROBE_PATHS.readiness)).toBe(503);
      expect(await status(PROBE_PATHS.liveness)).toBe(200);
    } finally {
      await server.close();
    }
  });

  it.each(services.map((s) => [s.metadata?.name, s] as const))(
    'Service %s selects one workload and targets ports its container exposes',
    (_name, service) => {
      const selected = workloadsOf(manifests).filter((w) => selects(service.spec?.selector, w.podLabels));
      expect(selected).toHaveLength(1);
      const containers = selected[0]?.pod.containers ?? [];
      for (const port of service.spec?.ports ?? []) {
        expect(containers.some((c) => containerPort(c, port.targetPort ?? port.port) !== undefined)).toBe(
          true,
        );
      }
    },
  );

  it.each([
    ['REDIS_URL', worker.config.REDIS_URL, 'sluice-redis'],
    ['CHROMA_URL', worker.config.CHROMA_URL, 'sluice-chroma'],
  ])('%s points at the Service of the StatefulSet that runs it', (_name, url, workloadName) => {
    const { host, port } = hostAndPort(url);
    const service = serviceNamed(host);
    expect(service.spec?.ports?.map((p) => p.port)).toContain(port);
    expect(selects(service.spec?.selector, workloadNamed(manifests, workloadName).podLabels)).toBe(true);
  });

  it('probes Chroma where Compose checks it', () => {
    const chroma = containerNamed(workloadNamed(manifests, 'sluice-chroma').pod, 'chroma');
    const heartbeat = chroma.readinessProbe?.httpGet?.path ?? '';
    expect(heartbeat).toBe('/api/v2/heartbeat');
    expect(JSON.stringify(loadCompose().compose.services.chroma?.healthcheck?.test)).toContain(heartbeat);
  });
});

describe('KEDA reads the queue the workers consume', () => {
  const scaledObject = objectNamed<IScaledObject>(
    manifests,
    'keda.sh/v1alpha1',
    'ScaledObject',
    'sluice-worker',
  );
  const redisTriggers = scaledObject.spec.triggers.filter((t) => t.type === 'redis');
  const prefix = worker.config.SLUICE_PREFIX;

  it('counts waiting and active jobs of the prefix and queue the workers use', () => {
    expect(redisTriggers.map((t) => t.metadata.listName).sort()).toEqual([
      `${prefix}:${QUEUE_NAME}:active`,
      `${prefix}:${QUEUE_NAME}:wait`,
    ]);
  });

  it('asks for one worker per WORKER_CONCURRENCY jobs', () => {
    for (const trigger of redisTriggers)
      expect(Number(trigger.metadata.listLength)).toBe(worker.config.WORKER_CONCURRENCY);
  });

  it("connects to the workers' Redis by its cluster-wide name (KEDA runs in another namespace)", () => {
    const { host, port } = hostAndPort(worker.config.REDIS_URL);
    for (const trigger of redisTriggers) {
      expect(trigger.metadata.address).toBe(`${host}.${namespace}.svc.cluster.local:${port}`);
    }
  });
});

describe('the same images and versions everywhere', () => {
  const { compose } = loadCompose();
  const images = workloadsOf(manifests).flatMap((w) => w.pod.containers.map((c) => c.image ?? ''));

  it('runs in Kubernetes the images Compose builds and pulls', () => {
    const composeImages = Object.values(compose.services).map((s) => s.image);
    expect([...images].sort()).toEqual([...composeImages].sort());
  });

  it('tags our images in the kustomization as in the manifests', () => {
    for (const { image } of Object.values(SLUICE_PROCESSES)) {
      const inManifest = images.find((i) => i.startsWith(`${image}:`));
      const entry = kustomization.images?.find((i) => i.name === image);
      expect(inManifest).toBe(`${image}:${entry?.newTag}`);
    }
  });

  it('labels each workload with the version of its image', () => {
    for (const workload of workloadsOf(manifests)) {
      const tag = (workload.pod.containers[0]?.image ?? '').split(':').at(-1);
      expect(workload.podLabels['app.kubernetes.io/version'], workload.name).toBe(tag);
    }
  });
});
