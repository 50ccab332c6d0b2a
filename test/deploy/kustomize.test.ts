import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KNOWN_PLACEHOLDER_SECRETS } from '@sluice/core';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { describe, expect, it } from 'vitest';
import { loadCompose } from './support/compose.js';
import {
  K8S,
  NAMESPACE,
  OPERATOR_FILES,
  objectsOf,
  operatorFiles,
  renderVariant,
  workloadNamed,
  yamlFilesUnder,
  type K8sVariant,
  type Manifest,
} from './support/kubernetes.js';
import { applyJsonPatch, parseEnvFile, referencedPaths, renderKustomization } from './support/kustomize.js';
import { readRepoFile, repoPath } from './support/repo.js';
import { deployedApi, deployedWorker } from './support/sluice.js';
import { parseYamlDocuments } from './support/yaml-documents.js';

const VARIANTS: readonly K8sVariant[] = ['base', 'keda', 'hpa', 'monitoring', 'overlay'];
const KUSTOMIZATIONS = [K8S.base, K8S.keda, K8S.hpa, K8S.monitoring, K8S.overlay];

function kinds(manifests: readonly Manifest[]): string[] {
  return [...new Set(manifests.map((m) => m.object.kind))].sort();
}

/** Secret objects written in a committed file (generated ones are fine: their values come from the operator). */
function committedSecrets(files: readonly string[], read: (file: string) => string): string[] {
  return files.flatMap((file) =>
    parseYamlDocuments(read(file), file)
      .filter(({ data }) => (data as { kind?: string } | null)?.kind === 'Secret')
      .map(({ source }) => source),
  );
}

/** Problems with an example file of operator secrets: a value someone could deploy as is. */
function usableExampleValues(text: string): string[] {
  return Object.entries(parseEnvFile(text, 'example'))
    .filter(([, value]) => value.trim() !== '')
    .map(([key]) => `${key} has a value in the example`);
}

describe('rule 1: no secret in the repository', () => {
  const committed = yamlFilesUnder('deploy');

  it('commits no Secret manifest (the old deploy/k8s/secret.yaml is gone)', () => {
    expect(existsSync(repoPath('deploy/k8s/secret.yaml'))).toBe(false);
    expect(committedSecrets(committed, readRepoFile)).toEqual([]);
  });

  it('fails that check when a Secret with a value is committed', () => {
    const secret = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  AUTH_JWT_SECRET: y\n';
    expect(committedSecrets(['deploy/k8s/base/x.yaml'], () => secret)).toEqual(['deploy/k8s/base/x.yaml#0']);
  });

  it('generates sluice-secrets from a git-ignored file that the repository does not hold', () => {
    for (const { path } of OPERATOR_FILES) {
      expect(existsSync(repoPath(path)) && !isIgnored(path), `${path} is committed`).toBe(false);
      expect(isIgnored(path), `${path} is not git-ignored`).toBe(true);
    }
    expect(() => renderKustomization(K8S.base)).toThrow(/secrets\.env: no such file/);
  });

  it('ships examples that hold no usable value, and the check fails on one that does', () => {
    for (const { example } of OPERATOR_FILES)
      expect(usableExampleValues(readRepoFile(example)), example).toEqual([]);
    expect(usableExampleValues(`AUTH_JWT_SECRET=${KNOWN_PLACEHOLDER_SECRETS[0]}\n`)).toEqual([
      'AUTH_JWT_SECRET has a value in the example',
    ]);
  });

  it('does not start the API on the example as it is: the secret is required', () => {
    const files = { [`${K8S.base}/secrets.env`]: readRepoFile(`${K8S.base}/secrets.env.example`) };
    expect(() => deployedApi(renderVariant('base', files), NAMESPACE)).toThrow(/AUTH_JWT_SECRET/);
    // ... nor on a published placeholder.
    const placeholder = {
      [`${K8S.base}/secrets.env`]: `AUTH_JWT_SECRET=${KNOWN_PLACEHOLDER_SECRETS[0]}\nREDIS_PASSWORD=x\n`,
    };
    expect(() => deployedApi(renderVariant('base', placeholder), NAMESPACE)).toThrow(/placeholder/);
  });

  it('lets Compose ship no secret either: both are required from .env', () => {
    const { text } = loadCompose();
    expect(text).toMatch(/AUTH_JWT_SECRET: \$\{AUTH_JWT_SECRET:\?/);
    expect(text).toMatch(/\$\{REDIS_PASSWORD:\?/);
    expect(text).not.toMatch(/AUTH_JWT_SECRET:-/);
  });
});

describe('rule 6: the kustomize layout', () => {
  it('runs the base without KEDA: no KEDA kinds, a fixed worker count', () => {
    const base = renderVariant('base');
    expect(
      kinds(base).filter((k) =>
        ['ScaledObject', 'TriggerAuthentication', 'HorizontalPodAutoscaler'].includes(k),
      ),
    ).toEqual([]);
    expect((workloadNamed(base, 'sluice-worker').object as IDeployment).spec?.replicas).toBe(2);
  });

  it.each([
    ['keda', ['ScaledObject', 'TriggerAuthentication']],
    ['hpa', ['HorizontalPodAutoscaler']],
  ] as const)('components/%s adds %j and hands the worker count to it', (variant, added) => {
    const rendered = renderVariant(variant);
    expect(kinds(rendered)).toEqual(expect.arrayContaining([...added]));
    expect((workloadNamed(rendered, 'sluice-worker').object as IDeployment).spec?.replicas).toBeUndefined();
  });

  it('puts every namespaced object in the namespace, and would catch an overlay that forgets it', () => {
    for (const variant of VARIANTS) {
      const stray = renderVariant(variant).filter(
        (m) => m.object.kind !== 'Namespace' && m.object.metadata.namespace !== NAMESPACE,
      );
      expect(stray.map((m) => `${variant}: ${m.object.kind} ${m.object.metadata.name}`)).toEqual([]);
    }
    const forgetful = {
      'deploy/k8s/.forgetful/kustomization.yaml':
        'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../base]\ncomponents: [../components/keda]\n',
    };
    const rendered = renderKustomization('deploy/k8s/.forgetful', {
      files: { ...operatorFiles(), ...forgetful },
    });
    const scaledObject = rendered.find((m) => m.object.kind === 'ScaledObject');
    expect(scaledObject?.object.metadata.namespace).toBeUndefined();
  });

  it('rolls the pods when a setting changes: the ConfigMap name, and so the pod templates, follow the content', () => {
    const template = (manifests: readonly Manifest[], name: string) =>
      JSON.stringify(workloadNamed(manifests, name).object.spec?.template);
    const before = renderVariant('base');
    const config = readRepoFile(`${K8S.base}/config.env`).replace('LOG_LEVEL=info', 'LOG_LEVEL=debug');
    const after = renderVariant('base', { [`${K8S.base}/config.env`]: config });
    for (const name of ['sluice-api', 'sluice-worker'])
      expect(template(after, name)).not.toBe(template(before, name));
    const configMaps = objectsOf<{ apiVersion: 'v1'; kind: 'ConfigMap'; metadata: { name: string } }>(
      after,
      'v1',
      'ConfigMap',
    );
    expect(configMaps.map((c) => c.metadata.name)).toContainEqual(
      expect.stringMatching(/^sluice-config-[a-z0-9]{10}$/),
    );
  });

  it('keeps uploads on the PVC only where STORAGE_DIR is used; the S3 overlay has no ReadWriteMany volume', () => {
    for (const variant of VARIANTS) {
      const rendered = renderVariant(variant);
      const api = deployedApi(rendered, NAMESPACE);
      const worker = deployedWorker(rendered, NAMESPACE);
      const claims = objectsOf<IPersistentVolumeClaim>(rendered, 'v1', 'PersistentVolumeClaim');
      const usesS3 = api.config.STORAGE_URL !== undefined;
      expect(worker.config.STORAGE_URL, variant).toBe(api.config.STORAGE_URL);
      expect(
        claims.some((c) => c.spec?.accessModes?.includes('ReadWriteMany')),
        variant,
      ).toBe(!usesS3);
      for (const deployed of [api, worker]) {
        const mounts = deployed.container.volumeMounts?.map((m) => m.mountPath) ?? [];
        expect(mounts.includes(deployed.config.STORAGE_DIR), `${variant} ${deployed.workload.name}`).toBe(
          !usesS3,
        );
      }
    }
    const overlay = deployedWorker(renderVariant('overlay'), NAMESPACE);
    expect(overlay.config.STORAGE_URL).toMatch(/^s3:\/\//);
    expect(overlay.config.S3_ENDPOINT).toMatch(/^https?:\/\//);
    expect(overlay.config.REDIS_URL).not.toMatch(/sluice-redis/);
    const inClusterRedis = renderVariant('overlay').filter(
      (m) =>
        ['StatefulSet', 'Service'].includes(m.object.kind) &&
        m.object.metadata.name.startsWith('sluice-redis'),
    );
    expect(inClusterRedis).toEqual([]);
  });

  it('fails the overlay loudly, not silently, if the base moves the uploads volume', () => {
    const patch = parseYamlDocuments(readRepoFile(`${K8S.overlay}/use-s3.yaml`), 'use-s3.yaml')[0]
      ?.data as Parameters<typeof applyJsonPatch>[1];
    const api = workloadNamed(renderVariant('base'), 'sluice-api').object;
    const moved = structuredClone(api);
    moved.spec?.template.spec?.volumes?.reverse();
    expect(() => applyJsonPatch(moved, patch)).toThrow(/test failed/);
    expect(() => applyJsonPatch(api, patch)).not.toThrow();
  });
});

describe('rule 9 (kustomize part): every path the kustomizations name exists, or is an operator file the docs name', () => {
  const operations = readRepoFile('docs/operations.md');
  const allowed = (path: string) =>
    OPERATOR_FILES.some((f) => f.path === path) && isIgnored(path) && operations.includes(path);

  it.each(KUSTOMIZATIONS)('%s', (dir) => {
    const missing = referencedPaths(dir).filter((path) => !existsSync(repoPath(path)) && !allowed(path));
    expect(missing).toEqual([]);
  });

  it('would catch a missing one', () => {
    const broken = readRepoFile(`${K8S.base}/kustomization.yaml`).replace('- api.yaml', '- apis.yaml');
    const paths = referencedPaths(K8S.base, { [`${K8S.base}/kustomization.yaml`]: broken });
    expect(paths.filter((p) => !existsSync(repoPath(p)))).toContain(`${K8S.base}/apis.yaml`);
  });
});

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });

describe.skipIf(kubectl.error !== undefined || kubectl.status !== 0)(
  'these renderings against `kubectl kustomize`',
  () => {
    /** Generated names lose their hash suffix (ours is not kustomize's), keys are sorted. */
    function normalized(objects: readonly unknown[]): string[] {
      const text = JSON.stringify(objects).replace(
        /(sluice-(?:config|secrets|s3|grafana-dashboard))-[a-z0-9]{10}\b/g,
        '$1',
      );
      return (JSON.parse(text) as unknown[]).map((o) => JSON.stringify(sortKeys(o))).sort();
    }

    it.each(['base', 'overlay'] as const)('agree on %s', (variant) => {
      const dir = mkdtempSync(join(tmpdir(), 'sluice-kustomize-'));
      const written: string[] = [];
      try {
        // kubectl reads the operator's files from the disk: write them where they belong, for this run only.
        for (const [path, content] of Object.entries(operatorFiles())) {
          if (existsSync(repoPath(path))) continue;
          writeFileSync(repoPath(path), content);
          written.push(path);
        }
        const onDisk = OPERATOR_FILES.map((f) => f.path).filter((p) => existsSync(repoPath(p)));
        const expected = renderVariant(variant, Object.fromEntries(onDisk.map((p) => [p, readRepoFile(p)])));
        const output = execFileSync('kubectl', ['kustomize', repoPath(K8S[variant])], { encoding: 'utf8' });
        writeFileSync(join(dir, 'out.yaml'), output);
        const actual = parseYamlDocuments(output, 'kubectl').map((d) => d.data);
        expect(normalized(actual)).toEqual(normalized(expected.map((m) => m.object)));
      } finally {
        for (const path of written) rmSync(repoPath(path));
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, sortKeys(v)]),
  );
}

function isIgnored(path: string): boolean {
  return spawnSync('git', ['check-ignore', '-q', path], { cwd: repoPath() }).status === 0;
}
