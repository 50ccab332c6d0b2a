import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import { objectsOf, type Manifest, type Workload } from './kubernetes.js';

/** What a pod's `fieldRef`s read, besides its labels. */
export interface PodFields {
  readonly namespace: string;
}

function configMapData(manifests: readonly Manifest[], name: string): Record<string, string> | undefined {
  return objectsOf<IConfigMap>(manifests, 'v1', 'ConfigMap').find((c) => c.metadata?.name === name)?.data;
}

function secretData(manifests: readonly Manifest[], name: string): Record<string, string> | undefined {
  const secret = objectsOf<ISecret>(manifests, 'v1', 'Secret').find((s) => s.metadata?.name === name);
  if (!secret) return undefined;
  const decoded = Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([key, value]) => [
      key,
      Buffer.from(value, 'base64').toString('utf8'),
    ]),
  );
  return { ...decoded, ...secret.stringData };
}

/**
 * The environment a container gets, resolved the way the kubelet does it from the manifests:
 * `envFrom` ConfigMaps and Secrets, then `env` (later entries win), with `configMapKeyRef`,
 * `secretKeyRef` and `fieldRef` (labels, name, namespace) looked up.
 * @throws Error when a non-optional reference names a ConfigMap, Secret or key that the
 *   manifests do not define: the pod would never start
 */
export function containerEnv(
  manifests: readonly Manifest[],
  workload: Workload,
  container: IContainer,
  fields: PodFields,
): Record<string, string> {
  const env: Record<string, string> = {};
  const where = `${workload.name}/${container.name}`;
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    const data = source.configMapRef
      ? configMapData(manifests, source.configMapRef.name ?? '')
      : secretData(manifests, source.secretRef?.name ?? '');
    if (!data) {
      if (ref?.optional) continue;
      throw new Error(`${where}: envFrom names ${ref?.name}, which the manifests do not define`);
    }
    for (const [key, value] of Object.entries(data)) env[`${source.prefix ?? ''}${key}`] = value;
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (!from) {
      env[variable.name] = variable.value ?? '';
      continue;
    }
    const keyRef = from.configMapKeyRef ?? from.secretKeyRef;
    if (keyRef) {
      const data = from.configMapKeyRef
        ? configMapData(manifests, keyRef.name ?? '')
        : secretData(manifests, keyRef.name ?? '');
      const value = data?.[keyRef.key];
      if (value !== undefined) env[variable.name] = value;
      else if (!keyRef.optional)
        throw new Error(
          `${where}: ${variable.name} refers to ${keyRef.name}/${keyRef.key}, which does not exist`,
        );
      continue;
    }
    if (from.fieldRef) {
      env[variable.name] = fieldValue(from.fieldRef.fieldPath, workload, fields, where);
      continue;
    }
    throw new Error(`${where}: ${variable.name} uses a valueFrom these tests do not resolve`);
  }
  return env;
}

function fieldValue(path: string, workload: Workload, fields: PodFields, where: string): string {
  const label = /^metadata\.labels\['([^']+)'\]$/.exec(path);
  if (label) {
    const value = workload.podLabels[label[1] ?? ''];
    if (value === undefined)
      throw new Error(`${where}: fieldRef ${path} names a label the pod does not have`);
    return value;
  }
  if (path === 'metadata.name') return `${workload.name}-0`;
  if (path === 'metadata.namespace') return fields.namespace;
  throw new Error(`${where}: fieldRef ${path} is not resolved by these tests`);
}
