import { describe, expect, it } from 'vitest';
import {
  K8S_ALTERNATIVES_DIR,
  K8S_DIR,
  loadAlternatives,
  loadKustomization,
  yamlFilesIn,
  type Manifest,
} from './support/kubernetes.js';
import { validateKubernetesObjects, type SchemaProblem } from './support/kubernetes-schema.js';
import { parseYamlDocuments } from './support/yaml-documents.js';

const { kustomization, manifests } = loadKustomization();
const alternatives = loadAlternatives();

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

describe('deploy/k8s files', () => {
  it('lists every manifest in the kustomization, and nothing that does not exist', () => {
    const files = yamlFilesIn(K8S_DIR).filter((file) => file !== 'kustomization.yaml');
    expect(
      [...kustomization.resources].filter((r) => !r.startsWith(`${K8S_ALTERNATIVES_DIR}/`)).sort(),
    ).toEqual(files);
    expect(alternatives.length).toBeGreaterThan(0);
  });

  it('leaves namespaces to the kustomization', () => {
    // A hard-coded namespace would silently win over `namespace:` in one file and not the others.
    expect(manifests.filter(({ object }) => object.metadata.namespace !== undefined)).toEqual([]);
  });

  it('parses YAML as kubectl does: an unquoted yes is a boolean, and a duplicate key is an error', () => {
    expect(parseYamlDocuments('args: [--appendonly, yes]', 'x.yaml')[0]?.data).toEqual({
      args: ['--appendonly', true],
    });
    expect(() => parseYamlDocuments('a: 1\na: 2\n', 'x.yaml')).toThrow(/x\.yaml/);
  });
});

describe('Kubernetes API schemas', () => {
  it('accept every manifest of the kustomization and of the alternatives', () => {
    expect(validateKubernetesObjects([...manifests, ...alternatives])).toEqual([]);
  });

  it('reject an unknown field: a readinessProbe typo in the worker container', () => {
    const worker = copyOf('Deployment', 'sluice-worker');
    const container = at(worker.object, 'spec', 'template', 'spec', 'containers', 0);
    container.readinesProbe = container.readinessProbe;
    delete container.readinessProbe;
    const messages = problemsOf(worker)
      .filter((p) => p.source === worker.source)
      .map((p) => p.message);
    expect(messages).toContainEqual(expect.stringMatching(/readinesProbe/));
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

  it('reject a kind they do not know', () => {
    const problems = validateKubernetesObjects([
      { source: 'x.yaml#0', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } } },
    ]);
    expect(problems).toEqual([{ source: 'x.yaml#0', message: 'no schema for v1/Pod' }]);
  });
});

describe("KEDA's ScaledObject schema", () => {
  it('rejects an unknown field in a trigger and in the autoscaler settings', () => {
    const scaledObject = copyOf('ScaledObject', 'sluice-worker');
    const trigger = at(scaledObject.object, 'spec', 'triggers', 0);
    trigger.metdata = trigger.metadata;
    delete trigger.metadata;
    const advanced = at(scaledObject.object, 'spec', 'advanced');
    advanced.horizontalPodAutoscalerConfg = advanced.horizontalPodAutoscalerConfig;
    delete advanced.horizontalPodAutoscalerConfig;
    const messages = problemsOf(scaledObject).map((p) => p.message);
    expect(messages).toContainEqual(expect.stringMatching(/metdata/));
    expect(messages).toContainEqual(expect.stringMatching(/horizontalPodAutoscalerConfg/));
  });

  it('rejects a wrong type: a number where KEDA wants a string', () => {
    const scaledObject = copyOf('ScaledObject', 'sluice-worker');
    at(scaledObject.object, 'spec', 'triggers', 0, 'metadata').listLength = 4;
    expect(problemsOf(scaledObject).map((p) => p.message)).toContainEqual(
      expect.stringMatching(/listLength must be string/),
    );
  });
});
