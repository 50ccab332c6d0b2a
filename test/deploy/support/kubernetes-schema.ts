import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import ts from 'typescript';
import { repoPath } from './repo.js';

/*
 * Why two checks. kubernetes-models (and @kubernetes-models/keda for KEDA's CRD) ships, per
 * resource kind, a validator compiled by ajv from the Kubernetes OpenAPI schema (the CRD's
 * openAPIV3Schema for KEDA) and a TypeScript interface generated from the same definitions.
 * The validators check types, formats and required fields but, like the API server's
 * structural schemas, let unknown fields through: a `readinesProbe` typo would pass them
 * (verified). The interfaces are closed, so type-checking each manifest as an object literal
 * of its interface rejects unknown fields, as `kubectl apply --validate=strict` does.
 *
 * Versions are pinned in pnpm-workspace.yaml's catalog (kubernetes-models 5, @kubernetes-models/keda
 * 2, @kubernetes-models/prometheus-operator 6 for the ServiceMonitor). The KEDA schema is the keda.sh/v1alpha1 CRD as that release generated it. Nothing is
 * fetched at run time.
 */

// `never`: each class takes its own interface; the data's shape is exactly what is being checked.
type ModelClass = new (data: never) => { validate(): void };

interface KindSchema {
  /** The kubernetes-models class whose `validate()` runs the compiled JSON Schema. */
  readonly model: ModelClass;
  /** The module and interface the manifest is type-checked against. */
  readonly typeModule: string;
  readonly typeName: string;
}

/** The resource kinds the deploy files may use, by `apiVersion/kind`. Another kind is a problem. */
export const KUBERNETES_KINDS: Readonly<Record<string, KindSchema>> = {
  'v1/Namespace': { model: Namespace, typeModule: 'kubernetes-models/v1/Namespace', typeName: 'INamespace' },
  'v1/ConfigMap': { model: ConfigMap, typeModule: 'kubernetes-models/v1/ConfigMap', typeName: 'IConfigMap' },
  'v1/Secret': { model: Secret, typeModule: 'kubernetes-models/v1/Secret', typeName: 'ISecret' },
  'v1/Service': { model: Service, typeModule: 'kubernetes-models/v1/Service', typeName: 'IService' },
  'v1/PersistentVolumeClaim': {
    model: PersistentVolumeClaim,
    typeModule: 'kubernetes-models/v1/PersistentVolumeClaim',
    typeName: 'IPersistentVolumeClaim',
  },
  'apps/v1/Deployment': {
    model: Deployment,
    typeModule: 'kubernetes-models/apps/v1/Deployment',
    typeName: 'IDeployment',
  },
  'apps/v1/StatefulSet': {
    model: StatefulSet,
    typeModule: 'kubernetes-models/apps/v1/StatefulSet',
    typeName: 'IStatefulSet',
  },
  'policy/v1/PodDisruptionBudget': {
    model: PodDisruptionBudget,
    typeModule: 'kubernetes-models/policy/v1/PodDisruptionBudget',
    typeName: 'IPodDisruptionBudget',
  },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler,
    typeModule: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
    typeName: 'IHorizontalPodAutoscaler',
  },
  'networking.k8s.io/v1/NetworkPolicy': {
    model: NetworkPolicy,
    typeModule: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
    typeName: 'INetworkPolicy',
  },
  'keda.sh/v1alpha1/ScaledObject': {
    model: ScaledObject,
    typeModule: '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject',
    typeName: 'IScaledObject',
  },
  'keda.sh/v1alpha1/TriggerAuthentication': {
    model: TriggerAuthentication,
    typeModule: '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication',
    typeName: 'ITriggerAuthentication',
  },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor,
    typeModule: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    typeName: 'IServiceMonitor',
  },
};

/** An object to check and where it came from. */
export interface ObjectUnderCheck {
  readonly source: string;
  readonly object: unknown;
}

/** One reason an object is not a valid Kubernetes resource. */
export interface SchemaProblem {
  readonly source: string;
  readonly message: string;
}

/**
 * Validates Kubernetes objects against the schemas of their kind: types, formats and required
 * fields (the compiled OpenAPI schema) and unknown fields (the generated interface).
 * @returns every problem found; empty when all objects are valid
 */
export function validateKubernetesObjects(objects: readonly ObjectUnderCheck[]): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const typed: { source: string; kind: KindSchema; object: unknown }[] = [];
  for (const { source, object } of objects) {
    const key = kindKey(object);
    const kind = key === undefined ? undefined : KUBERNETES_KINDS[key];
    if (!kind) {
      problems.push({ source, message: `no schema for ${key ?? 'an object without apiVersion and kind'}` });
      continue;
    }
    problems.push(...runtimeProblems(source, kind, object));
    typed.push({ source, kind, object });
  }
  problems.push(...typeCheckProblems(typed));
  return problems;
}

function kindKey(object: unknown): string | undefined {
  if (typeof object !== 'object' || object === null) return undefined;
  const { apiVersion, kind } = object as { apiVersion?: unknown; kind?: unknown };
  return typeof apiVersion === 'string' && typeof kind === 'string' ? `${apiVersion}/${kind}` : undefined;
}

function runtimeProblems(source: string, kind: KindSchema, object: unknown): SchemaProblem[] {
  try {
    new kind.model(object as never).validate();
    return [];
  } catch (err) {
    const details = (err as { errors?: { instancePath?: string; message?: string }[] }).errors;
    if (!Array.isArray(details)) return [{ source, message: String(err) }];
    return details.map((d) => ({ source, message: `${d.instancePath || '/'} ${d.message ?? 'is invalid'}` }));
  }
}

const compilerOptions: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts'],
  types: [],
};

// Declaration files parsed (and bound) once per test file, not once per check.
const sourceFileCache = new Map<string, ts.SourceFile>();

function typeCheckProblems(
  objects: readonly { source: string; kind: KindSchema; object: unknown }[],
): SchemaProblem[] {
  if (objects.length === 0) return [];
  // A virtual file next to the real ones, so that module resolution finds the root node_modules.
  const fileName = repoPath('test', 'deploy', '__manifests-under-check__.ts');
  const imports: string[] = [];
  const declarations: string[] = [];
  objects.forEach(({ kind, object }, index) => {
    imports.push(`import type { ${kind.typeName} as T${index} } from ${JSON.stringify(kind.typeModule)};`);
    declarations.push(`export const m${index}: T${index} = ${JSON.stringify(object, null, 2)};`);
  });
  const header = `${imports.join('\n')}\n`;
  const regions: { start: number; end: number }[] = [];
  let offset = header.length;
  for (const declaration of declarations) {
    regions.push({ start: offset, end: offset + declaration.length });
    offset += declaration.length + 1;
  }
  const text = `${header}${declarations.join('\n')}\n`;

  const host = ts.createCompilerHost(compilerOptions);
  const readFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) => {
    if (name === fileName) return ts.createSourceFile(name, text, languageVersion, true);
    const cached = sourceFileCache.get(name);
    if (cached) return cached;
    const file = readFile(name, languageVersion, onError, shouldCreate);
    if (file) sourceFileCache.set(name, file);
    return file;
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const program = ts.createProgram({ rootNames: [fileName], options: compilerOptions, host });
  const sourceFile = program.getSourceFile(fileName);
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...(sourceFile
      ? [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)]
      : []),
  ];
  return diagnostics.map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    const start = diagnostic.file === sourceFile ? diagnostic.start : undefined;
    const index = start === undefined ? -1 : regions.findIndex((r) => start >= r.start && start < r.end);
    const entry = objects[index];
    if (!entry || start === undefined) return { source: '(type check setup)', message };
    const lineStart = text.lastIndexOf('\n', start) + 1;
    const lineEnd = text.indexOf('\n', start);
    return { source: entry.source, message: `${message} (at: ${text.slice(lineStart, lineEnd).trim()})` };
  });
}
