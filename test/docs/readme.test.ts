import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/processes.js';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
const layout = readme.slice(readme.indexOf('## Layout'));
/** The paths in the first column of the README's layout table. */
const listed = [...layout.matchAll(/^\|\s*`([^`]+)`\s*\|/gm)].map((m) => m[1]!.replace(/\/$/, ''));

describe('README.md', () => {
  it('lays out paths that exist', () => {
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.filter((path) => !existsSync(join(repoRoot, path)))).toEqual([]);
  });

  it('lists every workspace package', () => {
    const packages = ['packages', 'services'].flatMap((group) =>
      readdirSync(join(repoRoot, group)).map((dir) => `${group}/${dir}`),
    );
    expect(packages.filter((path) => !listed.includes(path))).toEqual([]);
  });

  it('names the test command that CI runs', () => {
    expect(readme).toContain('pnpm install && pnpm test');
    expect(readFileSync(join(repoRoot, '.ci/run'), 'utf8')).toMatch(/"\$\{PNPM\[@\]\}" test\n/);
  });
});
