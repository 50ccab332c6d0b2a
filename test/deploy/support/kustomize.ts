import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { z } from 'zod';
import type { KubeObject, Manifest } from './kubernetes.js';
import { repoPath } from './repo.js';
import { parseYamlDocuments } from './yaml-documents.js';

/*
 * The part of kustomize that deploy/k8s uses, so that the tests read what `kubectl apply -k`
 * would apply without a kustomize binary: resources (files and directories), components,
 * namespace, configMapGenerator and secretGenerator (env files, files, literals; create, replace
 * and merge; a content hash in the name, and references to the original name rewritten),
 * `images`, patches (RFC 6902 operations, and strategic-merge `$patch: delete`) and
 * `configurations` (extra name references). A field it does not know is an error, never
 * ignored: a kustomization that uses more must extend this file first. Where kubectl is
 * installed, kustomize.test.ts compares the result with `kubectl kustomize`.
 */

/** Repository-relative files to read instead of the disk (for secrets and mutation tests). */
export type VirtualFiles = Readonly<Record<string, string>>;

/** Options of {@link renderKustomization}. */
export interface RenderOptions {
  /** Files that replace (or add to) the repository's, by repository-relative path. */
  readonly files?: VirtualFiles;
}

/** One object of a rendered kustomization. */
export interface RenderedObject extends Manifest {
  /** For generated ConfigMaps and Secrets: the name before the hash suffix. */
  readonly generatedFrom?: string;
  /** For generated objects that an overlay replaced or merged: the names they had before. */
  readonly formerNames?: readonly string[];
}

const generatorSchema = z.strictObject({
  name: z.string().min(1),
  behavior: z.enum(['create', 'replace', 'merge']).optional(),
  envs: z.array(z.string()).optional(),
  files: z.array(z.string()).optional(),
  literals: z.array(z.string()).optional(),
  type: z.string().optional(),
  options: z
    .strictObject({
      labels: z.record(z.string(), z.string()).optional(),
      disableNameSuffixHash: z.boolean().optional(),
    })
    .optional(),
});
type Generator = z.infer<typeof generatorSchema>;

const patchSchema = z.strictObject({
  path: z.string().optional(),
  patch: z.string().optional(),
  target: z
    .strictObject({
      group: z.string().optional(),
      version: z.string().optional(),
      kind: z.string().optional(),
      name: z.string().optional(),
    })
    .optional(),
});
type Patch = z.infer<typeof patchSchema>;

/** The kustomization.yaml fields these files use; another field is rejected. */
export const kustomizationFileSchema = z.strictObject({
  apiVersion: z.enum(['kustomize.config.k8s.io/v1beta1', 'kustomize.config.k8s.io/v1alpha1']),
  kind: z.enum(['Kustomization', 'Component']),
  namespace: z.string().min(1).optional(),
  resources: z.array(z.string().min(1)).optional(),
  components: z.array(z.string().min(1)).optional(),
  configMapGenerator: z.array(generatorSchema).optional(),
  secretGenerator: z.array(generatorSchema).optional(),
  patches: z.array(patchSchema).optional(),
  configurations: z.array(z.string()).optional(),
  images: z
    .array(
      z.strictObject({ name: z.string(), newName: z.string().optional(), newTag: z.string().optional() }),
    )
    .optional(),
});
/** A parsed kustomization.yaml (or a Component's). */
export type KustomizationFile = z.infer<typeof kustomizationFileSchema>;

const nameReferenceSchema = z.strictObject({
  nameReference: z.array(
    z.strictObject({
      kind: z.enum(['ConfigMap', 'Secret']),
      version: z.string().optional(),
      fieldSpecs: z.array(
        z.strictObject({ kind: z.string(), group: z.string().optional(), path: z.string() }),
      ),
    }),
  ),
});

/** Where a pod spec sits in the workload kinds kustomize knows, and what in it names a ConfigMap or Secret. */
const BUILTIN_REFERENCES: readonly { kind: 'ConfigMap' | 'Secret'; paths: readonly string[] }[] = [
  {
    kind: 'ConfigMap',
    paths: [
      'containers/envFrom/configMapRef/name',
      'containers/env/valueFrom/configMapKeyRef/name',
      'initContainers/envFrom/configMapRef/name',
      'initContainers/env/valueFrom/configMapKeyRef/name',
      'volumes/configMap/name',
      'volumes/projected/sources/configMap/name',
    ],
  },
  {
    kind: 'Secret',
    paths: [
      'containers/envFrom/secretRef/name',
      'containers/env/valueFrom/secretKeyRef/name',
      'initContainers/envFrom/secretRef/name',
      'initContainers/env/valueFrom/secretKeyRef/name',
      'volumes/secret/secretName',
      'volumes/projected/sources/secret/name',
      'imagePullSecrets/name',
    ],
  },
];

/** Kinds that are not namespaced (the namespace transformer leaves them alone). */
const CLUSTER_KINDS = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition']);

interface Context {
  readonly files: VirtualFiles;
  /**
   * Name references from `configurations`, gathered from every kustomization built so far: like
   * kustomize, a kustomization's overlays and parents use them too.
   */
  readonly references: { kind: 'ConfigMap' | 'Secret'; specs: ReferenceSpec[] }[];
}

/** Reads a repository file, virtual files first. @throws Error naming the file when it is missing */
export function readKustomizeFile(path: string, files: VirtualFiles = {}): string {
  const key = normalize(path);
  const virtual = files[key];
  if (virtual !== undefined) return virtual;
  const absolute = repoPath(key);
  if (!existsSync(absolute)) throw new Error(`${key}: no such file`);
  return readFileSync(absolute, 'utf8');
}

function isDirectory(path: string, context: Context): boolean {
  if (context.files[normalize(join(path, 'kustomization.yaml'))] !== undefined) return true;
  const absolute = repoPath(normalize(path));
  return existsSync(absolute) && statSync(absolute).isDirectory();
}

/** The kustomization file of a directory. */
export function loadKustomizationFile(dir: string, files: VirtualFiles = {}): KustomizationFile {
  const file = join(dir, 'kustomization.yaml');
  const [document] = parseYamlDocuments(readKustomizeFile(file, files), file);
  const parsed = kustomizationFileSchema.safeParse(document?.data);
  if (!parsed.success) throw new Error(`${file}: ${parsed.error.message}`);
  return parsed.data;
}

/**
 * Renders a kustomization directory (repository-relative) as kustomize would, into objects.
 * @throws Error for a missing file, an unknown field, a patch that does not apply
 */
export function renderKustomization(dir: string, options: RenderOptions = {}): RenderedObject[] {
  const context: Context = {
    files: options.files ?? {},
    references: BUILTIN_REFERENCES.map((r) => ({ kind: r.kind, specs: podSpecPaths(r.paths) })),
  };
  return build(normalize(dir), context, 'Kustomization', []);
}

/**
 * Every path a kustomization names (resources, components, generator files, patch files,
 * configurations), repository-relative, following resources and components that are directories.
 */
export function referencedPaths(dir: string, files: VirtualFiles = {}): string[] {
  const found = new Set<string>();
  const visit = (current: string) => {
    const k = loadKustomizationFile(current, files);
    const at = (p: string) => normalize(join(current, p));
    for (const p of [...(k.resources ?? []), ...(k.components ?? [])]) {
      found.add(at(p));
      if (isDirectory(at(p), { files, references: [] })) visit(at(p));
    }
    for (const g of [...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])]) {
      for (const p of [...(g.envs ?? []), ...(g.files ?? [])]) found.add(at(p.split('=').at(-1) ?? p));
    }
    for (const p of k.patches ?? []) if (p.path) found.add(at(p.path));
    for (const p of k.configurations ?? []) found.add(at(p));
  };
  visit(normalize(dir));
  return [...found].sort();
}

function build(
  dir: string,
  context: Context,
  kind: 'Kustomization' | 'Component',
  accumulated: RenderedObject[],
): RenderedObject[] {
  const k = loadKustomizationFile(dir, context.files);
  if (k.kind !== kind) throw new Error(`${dir}: expected a ${kind}, found a ${k.kind}`);
  const at = (p: string) => normalize(join(dir, p));
  let objects: RenderedObject[] = [...accumulated];
  for (const resource of k.resources ?? []) {
    const path = at(resource);
    if (isDirectory(path, context)) objects.push(...build(path, context, 'Kustomization', []));
    else objects.push(...loadObjects(path, context));
  }
  for (const component of k.components ?? []) objects = build(at(component), context, 'Component', objects);
  for (const generator of k.configMapGenerator ?? [])
    objects = generate('ConfigMap', generator, dir, context, objects);
  for (const generator of k.secretGenerator ?? [])
    objects = generate('Secret', generator, dir, context, objects);
  for (const patch of k.patches ?? []) objects = applyPatch(patch, dir, context, objects);
  if (k.namespace) objects = objects.map((o) => withNamespace(o, k.namespace ?? ''));
  objects = objects.map((o) => withImages(o, k.images ?? []));
  for (const file of k.configurations ?? []) context.references.push(...extraReferences(at(file), context));
  return fixNameReferences(objects, context.references);
}

function loadObjects(path: string, context: Context): RenderedObject[] {
  return parseYamlDocuments(readKustomizeFile(path, context.files), path).map(({ source, data }) => ({
    source,
    object: data as KubeObject,
  }));
}

/** Parses an env file as kustomize does: KEY=VALUE lines, `#` comments, the value as is. */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  const data: Record<string, string> = {};
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`${file}:${index + 1}: not KEY=VALUE`);
    data[line.slice(0, eq).trim()] = line.slice(eq + 1);
  });
  return data;
}

function generatedData(generator: Generator, dir: string, context: Context): Record<string, string> {
  const data: Record<string, string> = {};
  for (const env of generator.envs ?? []) {
    const path = normalize(join(dir, env));
    Object.assign(data, parseEnvFile(readKustomizeFile(path, context.files), path));
  }
  for (const entry of generator.files ?? []) {
    const [key, file] = entry.includes('=') ? entry.split('=') : [entry.split('/').at(-1), entry];
    data[key ?? entry] = readKustomizeFile(normalize(join(dir, file ?? entry)), context.files);
  }
  for (const literal of generator.literals ?? []) {
    const eq = literal.indexOf('=');
    data[literal.slice(0, eq)] = literal.slice(eq + 1);
  }
  return data;
}

/** A kustomize-style suffix: the first ten hex digits of a content hash, with kustomize's letter swaps. */
function nameSuffix(kind: string, name: string, data: Record<string, string>): string {
  const sorted = Object.fromEntries(Object.entries(data).sort(([a], [b]) => a.localeCompare(b)));
  const hex = createHash('sha256')
    .update(JSON.stringify({ data: sorted, kind, name }))
    .digest('hex');
  const swaps: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return [...hex.slice(0, 10)].map((c) => swaps[c] ?? c).join('');
}

function generate(
  kind: 'ConfigMap' | 'Secret',
  generator: Generator,
  dir: string,
  context: Context,
  objects: RenderedObject[],
): RenderedObject[] {
  const behavior = generator.behavior ?? 'create';
  const existing = objects.find((o) => o.object.kind === kind && o.generatedFrom === generator.name);
  if (behavior === 'create' && existing) throw new Error(`${dir}: ${kind} ${generator.name} exists already`);
  if (behavior !== 'create' && !existing)
    throw new Error(`${dir}: no ${kind} ${generator.name} to ${behavior}`);
  const previous = existing ? plainData(existing.object, kind) : {};
  const data = { ...(behavior === 'merge' ? previous : {}), ...generatedData(generator, dir, context) };
  const labels = {
    ...(behavior === 'create' ? {} : existing?.object.metadata.labels),
    ...generator.options?.labels,
  };
  const name = generator.options?.disableNameSuffixHash
    ? generator.name
    : `${generator.name}-${nameSuffix(kind, generator.name, data)}`;
  const object: KubeObject =
    kind === 'ConfigMap'
      ? { apiVersion: 'v1', kind, metadata: { name, labels }, data }
      : {
          apiVersion: 'v1',
          kind,
          metadata: { name, labels },
          type: generator.type ?? existing?.object.type ?? 'Opaque',
          data: Object.fromEntries(
            Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
          ),
        };
  const namespace = existing?.object.metadata.namespace;
  if (namespace) object.metadata.namespace = namespace;
  const rendered: RenderedObject = {
    source: `${dir}/kustomization.yaml#${kind}/${generator.name}`,
    object,
    generatedFrom: generator.name,
    formerNames: existing ? [existing.object.metadata.name, ...(existing.formerNames ?? [])] : [],
  };
  return existing ? objects.map((o) => (o === existing ? rendered : o)) : [...objects, rendered];
}

function plainData(object: KubeObject, kind: string): Record<string, string> {
  const data = (object.data ?? {}) as Record<string, string>;
  return kind === 'Secret'
    ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))
    : { ...data };
}

function groupOf(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function matchesTarget(object: KubeObject, target: NonNullable<Patch['target']>): boolean {
  const { group, version } = groupOf(object.apiVersion);
  return (
    (target.kind === undefined || target.kind === object.kind) &&
    (target.name === undefined || target.name === object.metadata.name) &&
    (target.group === undefined || target.group === group) &&
    (target.version === undefined || target.version === version)
  );
}

function applyPatch(
  patch: Patch,
  dir: string,
  context: Context,
  objects: RenderedObject[],
): RenderedObject[] {
  const file = patch.path ? normalize(join(dir, patch.path)) : `${dir}/kustomization.yaml#patch`;
  const text = patch.patch ?? readKustomizeFile(file, context.files);
  const documents = parseYamlDocuments(text, file);
  const [first] = documents;
  if (documents.length === 1 && Array.isArray(first?.data)) {
    if (!patch.target) throw new Error(`${file}: an RFC 6902 patch needs a target`);
    const target = patch.target;
    const matched = objects.filter((o) => matchesTarget(o.object, target));
    if (matched.length === 0) throw new Error(`${file}: no object matches the patch's target`);
    return objects.map((o) =>
      matched.includes(o) ? { ...o, object: applyJsonPatch(o.object, first.data as JsonPatchOp[], file) } : o,
    );
  }
  let result = objects;
  for (const { data } of documents) {
    const document = data as KubeObject & { $patch?: string };
    if (
      document.$patch !== 'delete' ||
      Object.keys(document).some((k) => !['$patch', 'apiVersion', 'kind', 'metadata'].includes(k))
    )
      throw new Error(
        `${file}: only strategic-merge patches of the form \`$patch: delete\` are supported here`,
      );
    const before = result.length;
    result = result.filter(
      (o) =>
        !(
          o.object.kind === document.kind &&
          o.object.apiVersion === document.apiVersion &&
          o.object.metadata.name === document.metadata.name
        ),
    );
    if (result.length === before)
      throw new Error(`${file}: nothing to delete: ${document.kind} ${document.metadata.name}`);
  }
  return result;
}

/** One RFC 6902 operation (the ones kustomize's patches use here). */
export interface JsonPatchOp {
  readonly op: 'add' | 'remove' | 'replace' | 'test';
  readonly path: string;
  readonly value?: unknown;
}

/** Applies RFC 6902 operations to a copy. @throws Error when a path is missing or a `test` fails */
export function applyJsonPatch<T>(document: T, operations: readonly JsonPatchOp[], where = 'patch'): T {
  const copy = structuredClone(document) as unknown;
  for (const operation of operations) {
    const keys = operation.path
      .split('/')
      .slice(1)
      .map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = keys.pop();
    if (last === undefined) throw new Error(`${where}: ${operation.op} of the whole document`);
    let parent = copy as Record<string, unknown> | unknown[];
    for (const key of keys) {
      const next = Array.isArray(parent) ? parent[Number(key)] : parent[key];
      if (typeof next !== 'object' || next === null) throw new Error(`${where}: no ${operation.path}`);
      parent = next as Record<string, unknown> | unknown[];
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      const present = index >= 0 && index < parent.length;
      if (operation.op === 'add') parent.splice(index, 0, structuredClone(operation.value));
      else if (!present) throw new Error(`${where}: no ${operation.path}`);
      else if (operation.op === 'remove') parent.splice(index, 1);
      else if (operation.op === 'replace') parent[index] = structuredClone(operation.value);
      else if (JSON.stringify(parent[index]) !== JSON.stringify(operation.value))
        throw new Error(`${where}: test failed at ${operation.path}`);
    } else {
      const present = Object.hasOwn(parent, last);
      if (operation.op === 'add') parent[last] = structuredClone(operation.value);
      else if (!present) throw new Error(`${where}: no ${operation.path}`);
      else if (operation.op === 'remove') delete parent[last];
      else if (operation.op === 'replace') parent[last] = structuredClone(operation.value);
      else if (JSON.stringify(parent[last]) !== JSON.stringify(operation.value))
        throw new Error(`${where}: test failed at ${operation.path}`);
    }
  }
  return copy as T;
}

function withNamespace(rendered: RenderedObject, namespace: string): RenderedObject {
  if (CLUSTER_KINDS.has(rendered.object.kind)) return rendered;
  const object = structuredClone(rendered.object);
  object.metadata.namespace = namespace;
  return { ...rendered, object };
}

function withImages(
  rendered: RenderedObject,
  images: NonNullable<KustomizationFile['images']>,
): RenderedObject {
  if (images.length === 0) return rendered;
  const object = structuredClone(rendered.object);
  const pod = podSpecOf(object);
  for (const container of [
    ...((pod?.containers as Record<string, string>[] | undefined) ?? []),
    ...((pod?.initContainers as Record<string, string>[] | undefined) ?? []),
  ]) {
    const image = container.image ?? '';
    const colon = image.lastIndexOf(':') > image.lastIndexOf('/') ? image.lastIndexOf(':') : -1;
    const name = colon < 0 ? image : image.slice(0, colon);
    const tag = colon < 0 ? undefined : image.slice(colon + 1);
    const entry = images.find((i) => i.name === name);
    if (entry)
      container.image = `${entry.newName ?? name}${(entry.newTag ?? tag) ? `:${entry.newTag ?? tag}` : ''}`;
  }
  return { ...rendered, object };
}

/** The pod spec of a workload object, or undefined for other kinds. */
function podSpecOf(object: KubeObject): Record<string, unknown> | undefined {
  const spec = object.spec as { template?: { spec?: Record<string, unknown> } } | undefined;
  return ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(object.kind)
    ? spec?.template?.spec
    : undefined;
}

interface ReferenceSpec {
  readonly kind: string;
  readonly group?: string;
  /** Path segments from the object root. */
  readonly path: readonly string[];
}

function podSpecPaths(paths: readonly string[]): ReferenceSpec[] {
  return ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].flatMap((kind) =>
    paths.map((p) => ({
      kind,
      group: kind === 'Job' ? 'batch' : 'apps',
      path: ['spec', 'template', 'spec', ...p.split('/')],
    })),
  );
}

function extraReferences(
  file: string,
  context: Context,
): { kind: 'ConfigMap' | 'Secret'; specs: ReferenceSpec[] }[] {
  const [document] = parseYamlDocuments(readKustomizeFile(file, context.files), file);
  const parsed = nameReferenceSchema.parse(document?.data);
  return parsed.nameReference.map((r) => ({
    kind: r.kind,
    specs: r.fieldSpecs.map((f) => ({
      kind: f.kind,
      ...(f.group === undefined ? {} : { group: f.group }),
      path: f.path.split('/'),
    })),
  }));
}

/** Rewrites references to a generated object's original name into its generated name (same namespace only, as kustomize does). */
function fixNameReferences(
  objects: RenderedObject[],
  references: readonly { kind: 'ConfigMap' | 'Secret'; specs: readonly ReferenceSpec[] }[],
): RenderedObject[] {
  const generated = objects.filter((o) => o.generatedFrom !== undefined);
  if (generated.length === 0) return objects;
  return objects.map((rendered) => {
    const object = structuredClone(rendered.object);
    let changed = false;
    for (const { kind, specs } of references) {
      for (const spec of specs) {
        if (spec.kind !== object.kind) continue;
        if (spec.group !== undefined && groupOf(object.apiVersion).group !== spec.group) continue;
        visit(object, spec.path, (holder, key) => {
          const value = holder[key];
          const target = generated.find(
            (g) =>
              g.object.kind === kind &&
              typeof value === 'string' &&
              (g.generatedFrom === value || (g.formerNames ?? []).includes(value)) &&
              g.object.metadata.namespace === object.metadata.namespace,
          );
          if (target && typeof value === 'string') {
            holder[key] = target.object.metadata.name;
            changed = true;
          }
        });
      }
    }
    return changed ? { ...rendered, object } : rendered;
  });
}

function visit(
  node: unknown,
  path: readonly string[],
  at: (holder: Record<string, unknown>, key: string) => void,
): void {
  if (Array.isArray(node)) {
    for (const item of node) visit(item, path, at);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const [head, ...rest] = path;
  if (head === undefined) return;
  const holder = node as Record<string, unknown>;
  if (rest.length === 0) {
    if (head in holder) at(holder, head);
    return;
  }
  visit(holder[head], rest, at);
}
