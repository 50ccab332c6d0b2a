import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseDockerfile } from './support/dockerfile.js';
import { readRepoFile } from './support/repo.js';

/*
 * The image workflow: multi-arch builds of both Dockerfile targets, pushed to ghcr.io on version
 * tags only, with an SBOM, provenance and the release baked in, under the names the
 * kustomization's `images:` use. Each rule is also shown to fail on a mutated workflow.
 */

interface Step {
  uses?: string;
  if?: string;
  with?: Record<string, string | boolean | undefined>;
}
interface Workflow {
  on: { push?: { tags?: string[] } };
  jobs: Record<string, { strategy?: { matrix?: { target?: string[] } }; steps: Step[] }>;
}

const workflow = parse(readRepoFile('.github', 'workflows', 'images.yml')) as Workflow;
const dockerfileTargets = parseDockerfile(readRepoFile('deploy', 'Dockerfile'))
  .stages.map((s) => s.name)
  .filter((name): name is string => name === 'api' || name === 'worker');
const kustomization = parse(readRepoFile('deploy', 'k8s', 'base', 'kustomization.yaml')) as {
  images: { name: string; newName: string }[];
};

const step = (w: Workflow, action: string): Step | undefined =>
  Object.values(w.jobs)
    .flatMap((job) => job.steps)
    .find((s) => s.uses?.startsWith(`${action}@`));

function workflowViolations(w: Workflow): string[] {
  const violations: string[] = [];
  const build = step(w, 'docker/build-push-action');
  const meta = step(w, 'docker/metadata-action');
  if (!build) return ['no docker/build-push-action step'];
  const options = build.with ?? {};
  const platforms = String(options.platforms ?? '').split(',');
  for (const platform of ['linux/amd64', 'linux/arm64'])
    if (!platforms.includes(platform)) violations.push(`does not build ${platform}`);
  if (options.push !== "${{ github.event_name == 'push' }}")
    violations.push('pushes on other events than a tag push');
  if (!(w.on.push?.tags ?? []).every((tag) => tag.startsWith('v')) || !w.on.push?.tags?.length)
    violations.push('is not triggered by version tags');
  if (options.sbom !== true) violations.push('attaches no SBOM');
  if (!String(options.provenance ?? '').startsWith('mode=')) violations.push('attaches no provenance');
  if (!/SLUICE_RELEASE=\$\{\{ steps\.meta\.outputs\.version \}\}/.test(String(options['build-args'] ?? '')))
    violations.push('does not bake the version into the image (SLUICE_RELEASE)');
  const targets = Object.values(w.jobs).flatMap((job) => job.strategy?.matrix?.target ?? []);
  for (const target of dockerfileTargets)
    if (!targets.includes(target)) violations.push(`does not build the ${target} target`);
  const images = String(meta?.with?.images ?? '');
  if (images !== 'ghcr.io/${{ github.repository_owner }}/sluice-${{ matrix.target }}')
    violations.push(`publishes to ${images || 'nowhere'}, not ghcr.io/<owner>/sluice-<target>`);
  return violations;
}

/** A deep copy of the workflow with one change, for the mutation checks. */
function mutated(change: (w: Workflow) => void): Workflow {
  const copy = structuredClone(workflow);
  change(copy);
  return copy;
}

describe('the image workflow', () => {
  it('builds both targets for amd64 and arm64 and pushes them, with SBOM and provenance, on version tags', () => {
    expect(dockerfileTargets.sort()).toEqual(['api', 'worker']);
    expect(workflowViolations(workflow)).toEqual([]);
  });

  it("publishes under the names the kustomization's images use", () => {
    for (const target of dockerfileTargets) {
      const image = kustomization.images.find((i) => i.name === `sluice-${target}`);
      expect(image?.newName).toMatch(new RegExp(`^ghcr\\.io/[^/]+/sluice-${target}$`));
    }
  });

  const mutations: [string, (w: Workflow) => void, RegExp][] = [
    [
      'an amd64-only build',
      (w) => (step(w, 'docker/build-push-action')!.with!.platforms = 'linux/amd64'),
      /arm64/,
    ],
    ['a push on every event', (w) => (step(w, 'docker/build-push-action')!.with!.push = true), /pushes/],
    ['no SBOM', (w) => delete step(w, 'docker/build-push-action')!.with!.sbom, /SBOM/],
    ['no provenance', (w) => (step(w, 'docker/build-push-action')!.with!.provenance = false), /provenance/],
    [
      'no release build argument',
      (w) => delete step(w, 'docker/build-push-action')!.with!['build-args'],
      /SLUICE_RELEASE/,
    ],
    [
      'a target left out',
      (w) => (Object.values(w.jobs)[0]!.strategy!.matrix!.target = ['api']),
      /worker target/,
    ],
    [
      'another registry',
      (w) => (step(w, 'docker/metadata-action')!.with!.images = 'docker.io/sluice/${{ matrix.target }}'),
      /ghcr/,
    ],
  ];
  it.each(mutations)('fails on %s', (_label, change, message) => {
    expect(workflowViolations(mutated(change)).join('\n')).toMatch(message);
  });
});
