import { apiEnvSchema, workerEnvSchema } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadCompose } from './support/compose.js';
import { effective, execForm, parseDockerfile, stageChain, type DockerStage } from './support/dockerfile.js';
import { imageViolations } from './support/policies.js';
import { readRepoFile } from './support/repo.js';

const dockerfile = parseDockerfile(readRepoFile('deploy', 'Dockerfile'));
const rootPackage = z
  .looseObject({ packageManager: z.string(), engines: z.object({ node: z.string() }) })
  .parse(JSON.parse(readRepoFile('package.json')));
const { compose } = loadCompose();

/** Every RUN line of a stage, for checks on what it runs. */
function runs(stage: DockerStage | undefined): string[] {
  return (stage?.instructions ?? []).filter((i) => i.keyword === 'RUN').map((i) => i.args);
}

const build = dockerfile.stages.find((s) => s.name === 'build');
const targets = [
  { target: 'api', main: 'services/api/dist/main.js', port: apiEnvSchema.shape.PORT.parse(undefined) },
  {
    target: 'worker',
    main: 'services/worker/dist/main.js',
    port: workerEnvSchema.shape.HEALTH_PORT.parse(undefined),
  },
];

describe('deploy/Dockerfile', () => {
  it('builds from a pinned Node 24 (the baseline) bookworm-slim that meets the engines field', () => {
    const bases = dockerfile.stages
      .map((s) => s.from)
      .filter((from) => !dockerfile.stages.some((s) => s.name === from));
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) {
      expect(imageViolations(base)).toEqual([]);
      const version = /^node:(\d+)\.(\d+)\.(\d+)-bookworm-slim$/.exec(base);
      expect(version, base).not.toBeNull();
      const minimum = /^>=\s*(\d+)\.(\d+)/.exec(rootPackage.engines.node);
      expect(Number(version?.[1])).toBe(24);
      expect(Number(version?.[1])).toBeGreaterThanOrEqual(Number(minimum?.[1]));
    }
  });

  it("installs the pnpm of package.json's packageManager, from the lockfile", () => {
    const pnpmVersion = rootPackage.packageManager.replace(/^pnpm@/, '').replace(/\+.*$/, '');
    const lines = runs(build);
    expect(lines).toContainEqual(expect.stringContaining(`pnpm@${pnpmVersion}`));
    expect(lines).toContainEqual(expect.stringMatching(/pnpm install .*--frozen-lockfile/));
    expect(lines).toContain('pnpm build');
  });

  it('keeps production dependencies only, one pnpm deploy per service', () => {
    const lines = runs(build).join('\n');
    expect(lines).toMatch(/pnpm --filter=@sluice\/api deploy --prod\b/);
    expect(lines).toMatch(/pnpm --filter=@sluice\/worker deploy --prod\b/);
  });

  it.each(targets)(
    'target $target runs node $main behind tini as a non-root user',
    ({ target, main, port }) => {
      const chain = stageChain(dockerfile, target);
      expect(chain.length).toBeGreaterThan(0);
      expect(execForm(effective(dockerfile, target, 'ENTRYPOINT'))).toEqual(['/usr/bin/tini', '--']);
      expect(execForm(effective(dockerfile, target, 'CMD'))).toEqual(['node', main]);
      const user = effective(dockerfile, target, 'USER')?.args ?? 'root';
      expect(user).toMatch(/^\d+(:\d+)?$/);
      expect(Number(user.split(':')[0])).toBeGreaterThan(0);
      expect(effective(dockerfile, target, 'EXPOSE')?.args).toBe(String(port));
      expect(chain.flatMap((s) => runs(s)).join('\n')).toMatch(/apt-get install .*\btini\b/);
    },
  );

  it('tells the shell form from the exec form', () => {
    expect(execForm({ keyword: 'CMD', args: 'node services/api/dist/main.js', line: 1 })).toBeUndefined();
    expect(execForm({ keyword: 'CMD', args: '["node", "x.js"]', line: 1 })).toEqual(['node', 'x.js']);
  });

  it('creates the uploads mount point owned by the runtime user, where Compose and Kubernetes mount it', () => {
    const runtime = stageChain(dockerfile, 'api')
      .flatMap((s) => runs(s))
      .join('\n');
    const uid = (effective(dockerfile, 'api', 'USER')?.args ?? '').split(':')[0];
    const storageDir = compose.services.api?.environment?.STORAGE_DIR;
    expect(storageDir).toBeTruthy();
    expect(runtime).toContain(`mkdir -p ${String(storageDir)}`);
    expect(runtime).toMatch(new RegExp(`chown -R ${uid}:${uid} `));
  });

  it('is what docker-compose.yml builds', () => {
    for (const { target } of targets) {
      expect(compose.services[target]?.build).toEqual({
        context: '.',
        dockerfile: 'deploy/Dockerfile',
        target,
      });
    }
  });
});

describe('.dockerignore', () => {
  const patterns = readRepoFile('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));

  it('keeps host builds, dependencies, secrets and git history out of the build context', () => {
    for (const pattern of ['**/node_modules', '**/dist', '**/*.tsbuildinfo', '.git', '.env']) {
      expect(patterns).toContain(pattern);
    }
  });

  it('keeps what the build needs', () => {
    // pnpm install --frozen-lockfile needs every workspace package.json, the lockfile and the workspace file.
    for (const needed of [
      'packages',
      'services',
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      'package.json',
      'tsconfig.base.json',
    ]) {
      expect(patterns.filter((p) => p === needed || p === `${needed}/` || p === `/${needed}`)).toEqual([]);
    }
  });
});
