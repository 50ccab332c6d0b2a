import { apiEnvSchema, workerEnvSchema } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadCompose } from './support/compose.js';
import {
  effective,
  execForm,
  parseDockerfile,
  stageChain,
  type DockerStage,
  type Dockerfile,
} from './support/dockerfile.js';
import { imageViolations } from './support/policies.js';
import { readRepoFile } from './support/repo.js';

const text = readRepoFile('deploy', 'Dockerfile');
const dockerfile = parseDockerfile(text);

/** A parser directive makes every build pull the named frontend image first. */
function syntaxViolations(source: string): string[] {
  return /^#\s*syntax\s*=/im.test(source) ? ['a # syntax= directive'] : [];
}

/** The target must carry ARG SLUICE_RELEASE and an ENV SLUICE_RELEASE made from it. */
function releaseViolations(file: Dockerfile, target: string): string[] {
  const instructions = stageChain(file, target).flatMap((stage) => stage.instructions);
  const arg = instructions.some((i) => i.keyword === 'ARG' && /^SLUICE_RELEASE(=|$)/.test(i.args));
  const env = instructions.some(
    (i) => i.keyword === 'ENV' && /^SLUICE_RELEASE=\$\{?SLUICE_RELEASE\}?$/.test(i.args),
  );
  return arg && env ? [] : [`target ${target} does not set ENV SLUICE_RELEASE from ARG SLUICE_RELEASE`];
}
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
      expect(effective(dockerfile, target, 'EXPOSE')?.args.split(' ')).toContain(String(port));
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

  it('is what docker-compose.yml builds, with the release as a build argument', () => {
    for (const { target } of targets) {
      expect(compose.services[target]?.build).toMatchObject({
        context: '.',
        dockerfile: 'deploy/Dockerfile',
        target,
      });
      expect(compose.services[target]?.build?.args?.SLUICE_RELEASE).toBe(
        compose.services[target]?.image.split(':')[1],
      );
    }
  });

  it('rule 7: has no `# syntax=` line (air-gapped builders cannot pull a frontend) but keeps the BuildKit caches', () => {
    expect(syntaxViolations(text)).toEqual([]);
    expect(syntaxViolations(`# syntax=docker/dockerfile:1\n${text}`)).toEqual(['a # syntax= directive']);
    expect(runs(build).filter((r) => r.startsWith('--mount=type=cache')).length).toBeGreaterThan(0);
    for (const doc of ['deploy/README.md', 'README.md']) expect(readRepoFile(doc), doc).toMatch(/BuildKit/);
  });

  it.each(targets)('rule 7: target $target bakes SLUICE_RELEASE from a build argument', ({ target }) => {
    expect(releaseViolations(dockerfile, target)).toEqual([]);
  });

  it('rule 7, mutated: fails a target that does not bake the release', () => {
    const broken = parseDockerfile(
      text.replaceAll('ENV SLUICE_RELEASE=${SLUICE_RELEASE}', 'ENV NODE_OPTIONS='),
    );
    expect(releaseViolations(broken, 'worker')).toEqual([
      'target worker does not set ENV SLUICE_RELEASE from ARG SLUICE_RELEASE',
    ]);
  });

  it('rule 7: keeps production dependencies only, and fails the build if a development tool is left', () => {
    const lines = runs(build).join('\n');
    expect(lines).toMatch(/rm -rf [^&]*\.pnpm\/typescript@\*/);
    expect(lines).toMatch(/for tool in typescript [^;]*; do/);
    // The image copies only the deploy outputs, never the build tree with its devDependencies.
    const copies = stageChain(dockerfile, 'api').flatMap((stage) =>
      stage.instructions.filter((i) => i.keyword === 'COPY'),
    );
    expect(copies.map((c) => c.args).filter((a) => !/^--from=build \/prod\//.test(a))).toEqual([]);
  });

  it('rule 7: ships the sluice CLI in the API image', () => {
    const copies = stageChain(dockerfile, 'api').flatMap((stage) =>
      stage.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args),
    );
    expect(copies).toContain('--from=build /prod/sdk /app/packages/sdk');
    expect(copies).toContain('--from=build /prod/bin/sluice /usr/local/bin/sluice');
    expect(runs(build).join('\n')).toMatch(/pnpm --filter=@sluice\/sdk deploy --prod\b/);
    expect(readRepoFile('README.md')).toContain("docker compose exec api sluice token --collections '*'");
  });
});

describe('.dockerignore', () => {
  const patterns = readRepoFile('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));

  it('keeps host builds, dependencies, secrets and git history out of the build context', () => {
    for (const pattern of [
      '**/node_modules',
      '**/dist',
      '**/*.tsbuildinfo',
      '.git',
      '.env',
      '**/secrets.env',
    ]) {
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
