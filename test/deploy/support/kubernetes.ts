import { readdirSync } from 'node:fs';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { z } from 'zod';
import { readRepoFile, repoPath } from './repo.js';
import { parseYamlDocuments } from './yaml-documents.js';

/** Where the plain manifests live, relative to the repository root. */
export const K8S_DIR = 'deploy/k8s';

/** Alternatives to resources of the kustomization (not applied by default), relative to {@link K8S_DIR}. */
export const K8S_ALTERNATIVES_DIR = 'alternatives';

const kubeObjectHeader = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({
    name: z.string().min(1),
    namespace: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
});

/** What every Kubernetes object has; the rest is checked by `validateKubernetesObjects`. */
export type KubeObject = z.infer<typeof kubeObjectHeader>;

/** One object of a manifest file. */
export interface Manifest {
  /** `deploy/k8s/file.yaml#index`. */
  readonly source: string;
  readonly object: KubeObject;
}

const kustomizationSchema = z.strictObject({
  apiVersion: z.literal('kustomize.config.k8s.io/v1beta1'),
  kind: z.literal('Kustomization'),
  namespace: z.string().min(1),
  resources: z.array(z.string().min(1)).min(1),
  images: z
    .array(
      z.strictObject({ name: z.string(), newName: z.string().optional(), newTag: z.string().optional() }),
    )
    .optional(),
});

/** The fields of `deploy/k8s/kustomization.yaml` these deploy files use (others are rejected). */
export type Kustomization = z.infer<typeof kustomizationSchema>;

/** Parses a manifest file into objects; throws when a document lacks apiVersion, kind or name. */
export function loadManifestFile(relativePath: string): Manifest[] {
  return parseYamlDocuments(readRepoFile(relativePath), relativePath).map(({ source, data }) => {
    const parsed = kubeObjectHeader.safeParse(data);
    if (!parsed.success) throw new Error(`${source} is not a Kubernetes object: ${parsed.error.message}`);
    return { source, object: parsed.data };
  });
}

/** The kustomization and the objects of every resource it lists, in its order. */
export function loadKustomization(): { kustomization: Kustomization; manifests: Manifest[] } {
  const [document] = parseYamlDocuments(readRepoFile(K8S_DIR, 'kustomization.yaml'), 'kustomization.yaml');
  const kustomization = kustomizationSchema.parse(document?.data);
  const manifests = kustomization.resources.flatMap((resource) => loadManifestFile(`${K8S_DIR}/${resource}`));
  return { kustomization, manifests };
}

/** The manifests in {@link K8S_ALTERNATIVES_DIR}, e.g. the HPA that replaces the ScaledObject. */
export function loadAlternatives(): Manifest[] {
  return yamlFilesIn(`${K8S_DIR}/${K8S_ALTERNATIVES_DIR}`).flatMap((file) =>
    loadManifestFile(`${K8S_DIR}/${K8S_ALTERNATIVES_DIR}/${file}`),
  );
}

/** The `.yaml` file names directly inside a repository directory, sorted. */
export function yamlFilesIn(relativeDir: string): string[] {
  return readdirSync(repoPath(relativeDir), { withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.ya?ml$/.test(entry.name))
    .map((entry) => entry.name)
    .sort();
}

/**
 * The objects of one kind, typed as the kubernetes-models interface for it. The cast is
 * sound once `validateKubernetesObjects` accepted the objects, which kubernetes-schema.test.ts
 * asserts; a policy test reading a malformed object fails on its own anyway.
 */
export function objectsOf<TObject extends { apiVersion: string; kind: string }>(
  manifests: readonly Manifest[],
  apiVersion: TObject['apiVersion'],
  kind: TObject['kind'],
): TObject[] {
  return manifests
    .filter(({ object }) => object.apiVersion === apiVersion && object.kind === kind)
    .map(({ object }) => object as unknown as TObject);
}

/** The one object of a kind with a name. @throws Error when there is none or more than one */
export function objectNamed<
  TObject extends { apiVersion: string; kind: string; metadata?: { name?: string } },
>(
  manifests: readonly Manifest[],
  apiVersion: TObject['apiVersion'],
  kind: TObject['kind'],
  name: string,
): TObject {
  const found = objectsOf<TObject>(manifests, apiVersion, kind).filter((o) => o.metadata?.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as TObject;
}

/** A Deployment or StatefulSet with the pod it runs. */
export interface Workload {
  readonly kind: 'Deployment' | 'StatefulSet';
  readonly name: string;
  readonly object: IDeployment | IStatefulSet;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly pod: IPodSpec;
}

/** Every Deployment and StatefulSet with its pod template. */
export function workloadsOf(manifests: readonly Manifest[]): Workload[] {
  const deployments = objectsOf<IDeployment>(manifests, 'apps/v1', 'Deployment');
  const statefulSets = objectsOf<IStatefulSet>(manifests, 'apps/v1', 'StatefulSet');
  return [...deployments, ...statefulSets].map((object) => {
    const template = object.spec?.template;
    if (!template?.spec) throw new Error(`${object.kind} ${object.metadata?.name} has no pod template`);
    return {
      kind: object.kind,
      name: object.metadata?.name ?? '',
      object,
      podLabels: template.metadata?.labels ?? {},
      pod: template.spec,
    };
  });
}

/** The workload named `name`. @throws Error when there is none */
export function workloadNamed(manifests: readonly Manifest[], name: string): Workload {
  const workload = workloadsOf(manifests).find((w) => w.name === name);
  if (!workload) throw new Error(`no Deployment or StatefulSet ${name}`);
  return workload;
}

/** The container `name` of a pod. @throws Error when there is none */
export function containerNamed(pod: IPodSpec, name: string): IContainer {
  const container = pod.containers.find((c) => c.name === name);
  if (!container) throw new Error(`no container ${name}`);
  return container;
}

/** Whether every label of `selector` is on `labels` (a Service or PodDisruptionBudget selector). */
export function selects(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([key, value]) => labels[key] === value);
}
