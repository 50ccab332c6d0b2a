import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { renderKustomization, type VirtualFiles } from './kustomize.js';
import { repoPath } from './repo.js';

/** What every Kubernetes object has; the rest is checked by `validateKubernetesObjects`. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** One object of a manifest file or of a rendered kustomization. */
export interface Manifest {
  /** `deploy/k8s/base/file.yaml#index`, or the generator that made it. */
  readonly source: string;
  readonly object: KubeObject;
}

/** The kustomizations of deploy/k8s, repository-relative. */
export const K8S = {
  /** The base: the whole stack, no autoscaler. */
  base: 'deploy/k8s/base',
  keda: 'deploy/k8s/components/keda',
  hpa: 'deploy/k8s/components/hpa',
  monitoring: 'deploy/k8s/monitoring',
  /** The example overlay: S3 uploads, an external Redis, KEDA. */
  overlay: 'deploy/k8s/overlays/s3-external-redis',
} as const;

/** The git-ignored files an operator writes, and the example each is made from. */
export const OPERATOR_FILES = [
  { path: `${K8S.base}/secrets.env`, example: `${K8S.base}/secrets.env.example` },
  { path: `${K8S.overlay}/s3.env`, example: `${K8S.overlay}/s3.env.example` },
] as const;

/** What an operator would put in the git-ignored files: generated, high-entropy values. */
export function operatorFiles(): VirtualFiles {
  return {
    [`${K8S.base}/secrets.env`]: [
      `AUTH_JWT_SECRET=${randomBytes(36).toString('base64')}`,
      `REDIS_PASSWORD=${randomBytes(24).toString('hex')}`,
      'EMBEDDINGS_API_KEY=',
      '',
    ].join('\n'),
    [`${K8S.overlay}/s3.env`]: `AWS_ACCESS_KEY_ID=AKIA${randomBytes(8).toString('hex').toUpperCase()}\nAWS_SECRET_ACCESS_KEY=${randomBytes(30).toString('base64')}\n`,
  };
}

/** The ways these files are meant to be applied: the base alone, with a component, the overlay. */
export type K8sVariant = 'base' | 'keda' | 'hpa' | 'monitoring' | 'overlay';

/** The namespace every variant deploys into (the base's `namespace:`). */
export const NAMESPACE = 'sluice';

/**
 * Renders a variant as `kubectl apply -k` would see it, with {@link operatorFiles} in place of
 * the operator's git-ignored files and `files` over both. A component is rendered through a
 * kustomization that includes the base and names the namespace, as deploy/README.md says to.
 */
export function renderVariant(variant: K8sVariant, files: VirtualFiles = {}): Manifest[] {
  const all = { ...operatorFiles(), ...files };
  if (variant === 'base' || variant === 'overlay') return renderKustomization(K8S[variant], { files: all });
  const dir = `deploy/k8s/.with-${variant}`;
  const kustomization = [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    `namespace: ${NAMESPACE}`,
    'resources:',
    '  - ../base',
    'components:',
    `  - ../${K8S[variant].slice('deploy/k8s/'.length)}`,
    '',
  ].join('\n');
  return renderKustomization(dir, { files: { [`${dir}/kustomization.yaml`]: kustomization, ...all } });
}

/**
 * The base with KEDA: every object the policies and consistency checks read, but the HPA's.
 * `kustomization.namespace` is kept for test/rollout, which reads it.
 */
export function loadKustomization(files: VirtualFiles = {}): {
  namespace: string;
  kustomization: { readonly namespace: string };
  manifests: Manifest[];
} {
  return {
    namespace: NAMESPACE,
    kustomization: { namespace: NAMESPACE },
    manifests: renderVariant('keda', files),
  };
}

/** Every YAML file under a repository directory, recursively, sorted. */
export function yamlFilesUnder(relativeDir: string): string[] {
  return readdirSync(repoPath(relativeDir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.ya?ml$/.test(entry.name))
    .map((entry) => join(relative(repoPath(), entry.parentPath), entry.name))
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
