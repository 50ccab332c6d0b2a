import { describe, expect, it } from 'vitest';
import { renderVariant, type K8sVariant, type Manifest } from './support/kubernetes.js';
import { validateKubernetesObjects, type SchemaProblem } from './support/kubernetes-schema.js';
import { parseYamlDocuments } from './support/yaml-documents.js';

const VARIANTS: readonly K8sVariant[] = ['base', 'keda', 'hpa', 'monitoring', 'overlay'];
const manifests = renderVariant('keda');

/** A deep copy of the one manifest of `kind` named `name`, to break in memory. */
function copyOf(kind: string, name: string, from: readonly Manifest[] = manifests): Manifest {
  const found = from.find(({ object }) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return { source: found.source, object: structuredClone(found.object) };
}

/** The problems the validator finds in one object. */
function problemsOf(manifest: Manifest): SchemaProblem[] {
  return validateKubernetesObjects([manifest]);
}

/** A path into a copied manifest; test code knows the shape it mutates. */
function at(object: unknown, ...path: (string | number)[]): Record<string, unknown> {
  let node: unknown = object;
  for (const key of path) node = (node as Record<string | number, unknown>)[key];
  if (typeof node !== 'object' || node === null) throw new Error(`nothing at ${path.join('.')}`);
  return node as Record<string, unknown>;
}

describe('YAML as kubectl reads it', () => {
  it('parses an unquoted yes as a boolean, and a duplicate key is an error', () => {
    expect(parseYamlDocuments('args: [--appendonly, yes]', 'x.yaml')[0]?.data).toEqual({
      args: ['--appendonly', true],
    });
    expect(() => parseYamlDocuments('a: 1\na: 2\n', 'x.yaml')).toThrow(/x\.yaml/);
  });
});

describe('Kubernetes API schemas', () => {
  it.each(VARIANTS)('accept every object of the %s rendering', (variant) => {
    expect(validateKubernetesObjects(renderVariant(variant))).toEqual([]);
  });

  it('reject an unknown field: a readinessProbe typo in the worker container', () => {
    const worker = copyOf('Deployment', 'sluice-worker');
    const container = at(worker.object, 'spec', 'template', 'spec', 'containers', 0);
    container.readinesProbe = container.readinessProbe;
    delete container.readinessProbe;
    expect(problemsOf(worker).map((p) => p.message)).toContainEqual(expect.stringMatching(/readinesProbe/));
  });

  it('reject an unknown field deep in a spec: maxUnavailabe in the rollout strategy', () => {
    const api = copyOf('Deployment', 'sluice-api');
    const rollingUpdate = at(api.object, 'spec', 'strategy', 'rollingUpdate');
    rollingUpdate.maxUnavailabe = rollingUpdate.maxUnavailable;
    delete rollingUpdate.maxUnavailable;
    expect(problemsOf(api).map((p) => p.message)).toContainEqual(expect.stringMatching(/maxUnavailabe/));
  });

  it('reject a wrong type and a missing required field', () => {
    const redis = copyOf('StatefulSet', 'sluice-redis');
    const container = at(redis.object, 'spec', 'template', 'spec', 'containers', 0);
    at(container, 'ports', 0).containerPort = '6379';
    delete container.name;
    const messages = problemsOf(redis).map((p) => p.message);
    expect(messages).toContainEqual(expect.stringMatching(/containerPort must be integer/));
    expect(messages).toContainEqual(expect.stringMatching(/required property name/));
  });

  it('reject a NetworkPolicy with a typo in a peer', () => {
    const policy = copyOf('NetworkPolicy', 'sluice-api');
    const peer = at(policy.object, 'spec', 'ingress', 0, 'from', 0);
    peer.namespaceSelecter = peer.namespaceSelector;
    delete peer.namespaceSelector;
    expect(problemsOf(policy).map((p) => p.message)).toContainEqual(
      expect.stringMatching(/namespaceSelecter/),
    );
  });

  it('reject a kind they do not know', () => {
    const problems = validateKubernetesObjects([
      { source: 'x.yaml#0', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } } },
    ]);
    expect(problems).toEqual([{ source: 'x.yaml#0', message: 'no schema for v1/Pod' }]);
  });
});

describe("KEDA's and the Prometheus Operator's schemas", () => {
  it('reject an unknown field in a trigger and in the autoscaler settings', () => {
    const scaledObject = copyOf('ScaledObject', 'sluice-worker');
    const trigger = at(scaledObject.object, 'spec', 'triggers', 0);
    trigger.metdata = trigger.metadata;
    delete trigger.metadata;
    const advanced = at(scaledObject.object, 'spec', 'advanced');
    advanced.scalingModifers = advanced.scalingModifiers;
    delete advanced.scalingModifiers;
    const messages = problemsOf(scaledObject).map((p) => p.message);
    expect(messages).toContainEqual(expect.stringMatching(/metdata/));
    expect(messages).toContainEqual(expect.stringMatching(/scalingModifers/));
  });

  it('reject a wrong type: a number where KEDA wants a string', () => {
    const scaledObject = copyOf('ScaledObject', 'sluice-worker');
    at(scaledObject.object, 'spec', 'advanced', 'scalingModifiers').target = 16;
    expect(problemsOf(scaledObject).map((p) => p.message)).toContainEqual(
      expect.stringMatching(/target must be string/),
    );
  });

  it('reject a TriggerAuthentication entry without its key, and a ServiceMonitor typo', () => {
    const auth = copyOf('TriggerAuthentication', 'sluice-redis');
    delete at(auth.object, 'spec', 'secretTargetRef', 0).key;
    expect(problemsOf(auth).map((p) => p.message)).toContainEqual(
      expect.stringMatching(/required property key/),
    );
    const monitor = copyOf('ServiceMonitor', 'sluice', renderVariant('monitoring'));
    at(monitor.object, 'spec', 'endpoints', 0).intervall = '30s';
    expect(problemsOf(monitor).map((p) => p.message)).toContainEqual(expect.stringMatching(/intervall/));
  });
});
