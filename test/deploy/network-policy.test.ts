import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { describe, expect, it } from 'vitest';
import { NAMESPACE, loadKustomization, objectsOf, workloadNamed } from './support/kubernetes.js';
import { connectionAllowed, type Endpoint } from './support/network-policies.js';
import { deployedApi, deployedWorker } from './support/sluice.js';

const { manifests } = loadKustomization();
const policies = objectsOf<INetworkPolicy>(manifests, 'networking.k8s.io/v1', 'NetworkPolicy');
const api = deployedApi(manifests, NAMESPACE);
const worker = deployedWorker(manifests, NAMESPACE);
const redisPort = Number(new URL(worker.config.REDIS_URL.replace(/^redis/, 'http')).port);
const chromaPort = Number(new URL(worker.config.CHROMA_URL).port);

function pod(name: string): Endpoint {
  return {
    name,
    namespace: NAMESPACE,
    namespaceLabels: { 'kubernetes.io/metadata.name': NAMESPACE },
    labels: workloadNamed(manifests, name).podLabels,
  };
}
function outside(namespace: string): Endpoint {
  return {
    name: namespace,
    namespace,
    namespaceLabels: { 'kubernetes.io/metadata.name': namespace },
    labels: {},
  };
}

const [apiPod, workerPod, redisPod, chromaPod] = [
  'sluice-api',
  'sluice-worker',
  'sluice-redis',
  'sluice-chroma',
].map(pod) as [Endpoint, Endpoint, Endpoint, Endpoint];
const ingress = outside('ingress-nginx');
const monitoring = outside('monitoring');
const keda = outside('keda');
const dns = outside('kube-system');
const elsewhere = outside('default');

/** Rule 3: [from, to, port, must be allowed]. */
const MATRIX: readonly [Endpoint, Endpoint, number, boolean][] = [
  [ingress, apiPod, api.config.PORT, true],
  [ingress, apiPod, api.config.METRICS_PORT, false],
  [elsewhere, apiPod, api.config.PORT, false],
  [apiPod, redisPod, redisPort, true],
  [apiPod, chromaPod, chromaPort, true],
  [workerPod, redisPod, redisPort, true],
  [workerPod, chromaPod, chromaPort, true],
  [keda, redisPod, redisPort, true],
  [elsewhere, redisPod, redisPort, false],
  [monitoring, apiPod, api.config.METRICS_PORT, true],
  [monitoring, workerPod, worker.config.HEALTH_PORT, true],
  [monitoring, redisPod, redisPort, false],
  [apiPod, dns, 53, true],
  [workerPod, dns, 53, true],
  [workerPod, apiPod, api.config.PORT, false],
  [chromaPod, redisPod, redisPort, false],
  [workerPod, { name: 'internet', ip: '93.184.216.34' }, 443, false],
];

describe('rule 3: NetworkPolicies', () => {
  it.each(MATRIX.map(([from, to, port, allowed]) => [from.name, to.name, port, allowed] as const))(
    '%s -> %s:%i allowed: %s',
    (fromName, toName, port, allowed) => {
      const [from, to] =
        MATRIX.find(([f, t, p]) => f.name === fromName && t.name === toName && p === port) ?? [];
      if (!from || !to) throw new Error('no such pair');
      const protocol = port === 53 ? 'UDP' : 'TCP';
      expect(connectionAllowed(policies, from, to, port, protocol)).toBe(allowed);
    },
  );

  it("mutated: without the deny and the pods' own policies traffic is open; without the API policy the API reaches nothing", () => {
    const open = policies.filter(
      (p) =>
        !['sluice-default-deny', 'sluice-dns', 'sluice-worker', 'sluice-api'].includes(
          p.metadata?.name ?? '',
        ),
    );
    expect(connectionAllowed(open, workerPod, apiPod, api.config.PORT)).toBe(true);
    const noApi = policies.filter((p) => p.metadata?.name !== 'sluice-api');
    expect(connectionAllowed(noApi, apiPod, chromaPod, chromaPort)).toBe(false);
    expect(connectionAllowed(noApi, ingress, apiPod, api.config.PORT)).toBe(false);
    const noDns = policies.filter((p) => p.metadata?.name !== 'sluice-dns');
    expect(connectionAllowed(noDns, workerPod, dns, 53, 'UDP')).toBe(false);
  });
});
