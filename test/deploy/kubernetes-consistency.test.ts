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
  K8S,
  containerNamed,
  loadKustomization,
  renderVariant,
  objectNamed,
  objectsOf,
  selects,
  workloadNamed,
  workloadsOf,
  type Manifest,
} from './support/kubernetes.js';
import { loadKustomizationFile } from './support/kustomize.js';
import { PROBE_PATHS, QUEUE_NAME, SLUICE_PROCESSES, deployedApi, deployedWorker } from './support/sluice.js';

const { namespace, manifests } = loadKustomization();
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

/** Read by the AWS SDK's default chain itself, not by Sluice's schemas (STORAGE_URL's credentials). */
const AWS_SDK_VARIABLES = ['AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];

/** Variables a container sets that its process's schema does not read. */
function unknownVariables(env: Readonly<Record<string, string>>, known: readonly string[]): string[] {
  return Object.keys(env).filter((name) => !known.includes(name) && !AWS_SDK_VARIABLES.includes(name));
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
  });

  it.each(['base', 'overlay'] as const)(
    'the %s rendering sets only variables the processes (or the AWS SDK) read',
    (variant) => {
      const rendered = renderVariant(variant);
      expect(unknownVariables(deployedApi(rendered, namespace).env, Object.keys(apiEnvSchema.shape))).toEqual(
        [],
      );
      expect(
        unknownVariables(deployedWorker(rendered, namespace).env, Object.keys(workerEnvSchema.shape)),
      ).toEqual([]);
    },
  );

  it('leaves SLUICE_RELEASE to the image, so that `kustomize edit set image` is the whole release', () => {
    for (const deployed of [api, worker])
      expect(deployed.env.SLUICE_RELEASE, deployed.workload.name).toBeUndefined();
    const copy = structuredClone(worker.container);
    copy.env = [...(copy.env ?? []), { name: 'SLUICE_RELEASE', value: '0.1.0' }];
    expect(copy.env.some((e) => e.name === 'SLUICE_RELEASE')).toBe(true);
  });
});

describe('ports and probe paths', () => {
  it.each([
    ['api', api.container, api.config.PORT],
    ['worker', worker.container, worker.config.HEALTH_PORT],
  ])(
    'the %s probes hit its public (probe) port, at its readiness and liveness paths',
    (_name, container, port) => {
      expect(probePortViolations(container, port)).toEqual([]);
    },
  );

  it("rule 5: serves the API's /metrics on METRICS_PORT, apart from the public port and Service", () => {
    expect(metricsPortViolations(manifests)).toEqual([]);
    expect(api.config.METRICS_PORT).not.toBe(api.config.PORT);
  });

  it('rule 5, mutated: fails when the public Service exposes the metrics port or a probe moves to it', () => {
    const copy = structuredClone<Manifest[]>([...manifests]);
    const publicService = objectNamed<IService>(copy, 'v1', 'Service', 'sluice-api');
    publicService.spec?.ports?.push({
      name: 'metrics',
      port: api.config.METRICS_PORT,
      targetPort: 'metrics',
    });
    expect(metricsPortViolations(copy)).toEqual(['the public Service sluice-api exposes the metrics port']);
    const container = structuredClone(api.container);
    if (container.readinessProbe?.httpGet) container.readinessProbe.httpGet.port = 'metrics';
    expect(probePortViolations(container, api.config.PORT)).not.toEqual([]);
  });

  it.each([
    ['api', api.workload.object.spec?.template.metadata?.annotations, api.config.METRICS_PORT],
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

  it('counts the waiting, prioritized and active jobs of the prefix and queue the workers use, and the meta hash', () => {
    expect(Object.fromEntries(redisTriggers.map((t) => [t.name, t.metadata.listName]))).toEqual({
      waiting: `${prefix}:${QUEUE_NAME}:wait`,
      prioritized: `${prefix}:${QUEUE_NAME}:prioritized`,
      active: `${prefix}:${QUEUE_NAME}:active`,
      meta: `${prefix}:${QUEUE_NAME}:meta`,
    });
  });

  it('asks for one worker per WORKER_CONCURRENCY jobs, summed by the formula', () => {
    const modifiers = scaledObject.spec.advanced?.scalingModifiers;
    expect(Number(modifiers?.target)).toBe(worker.config.WORKER_CONCURRENCY);
    expect(modifiers?.metricType ?? 'AverageValue').toBe('AverageValue');
    for (const name of ['waiting', 'prioritized', 'active', 'meta'])
      expect(modifiers?.formula).toContain(name);
  });

  it("connects to the workers' Redis by its cluster-wide name (KEDA runs in another namespace)", () => {
    const { host, port } = hostAndPort(worker.config.REDIS_URL);
    for (const trigger of redisTriggers) {
      expect(trigger.metadata.address).toBe(`${host}.${namespace}.svc.cluster.local:${port}`);
    }
  });

  it('reads the external Redis in the overlay, over TLS when REDIS_URL is rediss://', () => {
    const overlay = renderVariant('overlay');
    const url = deployedWorker(overlay, namespace).config.REDIS_URL;
    const { host, port } = hostAndPort(url);
    const triggers = objectNamed<IScaledObject>(overlay, 'keda.sh/v1alpha1', 'ScaledObject', 'sluice-worker')
      .spec.triggers;
    for (const trigger of triggers) {
      expect(trigger.metadata.address).toBe(`${host}:${port}`);
      expect(trigger.metadata.enableTLS === 'true').toBe(url.startsWith('rediss://'));
    }
  });
});

describe('the same images and versions everywhere', () => {
  const { compose } = loadCompose();
  const base = loadKustomizationFile(K8S.base);
  const images = workloadsOf(manifests).flatMap((w) => w.pod.containers.map((c) => c.image ?? ''));

  it('runs in Kubernetes the third-party images Compose pulls', () => {
    const thirdParty = (list: readonly string[]) => list.filter((i) => !/sluice-(api|worker)/.test(i)).sort();
    expect(thirdParty(images)).toEqual(thirdParty(Object.values(compose.services).map((s) => s.image)));
  });

  it('tags our images with one release: kustomization, Compose tag and Compose build arg', () => {
    for (const { image } of Object.values(SLUICE_PROCESSES)) {
      const entry = base.images?.find((i) => i.name === image);
      expect(entry?.newName).toBe(`ghcr.io/sluice-org/${image}`);
      expect(images).toContain(`${entry?.newName}:${entry?.newTag}`);
      const service = Object.values(compose.services).find((s) => s.image.startsWith(`${image}:`));
      expect(service?.image).toBe(`${image}:${entry?.newTag}`);
      expect(service?.build?.args?.SLUICE_RELEASE).toBe(entry?.newTag);
    }
  });

  it('labels each third-party workload with the version of its image', () => {
    for (const workload of workloadsOf(manifests).filter(
      (w) => !w.name.startsWith('sluice-api') && !w.name.startsWith('sluice-worker'),
    )) {
      const tag = (workload.pod.containers[0]?.image ?? '').split(':').at(-1);
      expect(workload.podLabels['app.kubernetes.io/version'], workload.name).toBe(tag);
    }
  });
});

function probePortViolations(container: IContainer, port: number): string[] {
  const violations: string[] = [];
  const probes = [
    ['readiness', container.readinessProbe, PROBE_PATHS.readiness],
    ['liveness', container.livenessProbe, PROBE_PATHS.liveness],
    ['startup', container.startupProbe, PROBE_PATHS.liveness],
  ] as const;
  for (const [kind, probe, path] of probes) {
    const { path: actual, port: probePort } = httpProbe(probe);
    if (actual !== path) violations.push(`${kind} probe on ${actual}, not ${path}`);
    if (containerPort(container, probePort) !== port) violations.push(`${kind} probe not on port ${port}`);
  }
  return violations;
}

/** Rule 5: the API's metrics port is a container port of its own, behind its own Service only. */
function metricsPortViolations(objects: readonly Manifest[]): string[] {
  const deployed = deployedApi(objects, namespace);
  const violations: string[] = [];
  const metricsPort = deployed.config.METRICS_PORT;
  if (containerPort(deployed.container, 'metrics') !== metricsPort)
    violations.push(`no container port "metrics" = METRICS_PORT ${metricsPort}`);
  const apiServices = objectsOf<IService>(objects, 'v1', 'Service').filter((s) =>
    selects(s.spec?.selector, deployed.workload.podLabels),
  );
  for (const service of apiServices) {
    const targets = (service.spec?.ports ?? []).map((p) =>
      containerPort(deployed.container, p.targetPort ?? p.port),
    );
    if (service.metadata?.name === 'sluice-api' && targets.includes(metricsPort))
      violations.push('the public Service sluice-api exposes the metrics port');
    if (service.metadata?.name === 'sluice-api-metrics' && targets.join() !== String(metricsPort))
      violations.push('sluice-api-metrics does not target METRICS_PORT');
  }
  if (!apiServices.some((s) => s.metadata?.name === 'sluice-api-metrics'))
    violations.push('no Service sluice-api-metrics');
  return violations;
}
