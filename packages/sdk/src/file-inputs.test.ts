import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commonDirectory, expandInputs, splitGlob } from './file-inputs.js';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop()!, { recursive: true, force: true });
});

async function tree(files: string[]): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'sluice-file-inputs-'));
  dirs.push(root);
  for (const file of files) {
    await mkdir(join(root, file, '..'), { recursive: true });
    await writeFile(join(root, file), 'x');
  }
  return root;
}

describe('commonDirectory and splitGlob', () => {
  it('finds the deepest shared directory', () => {
    expect(commonDirectory(['/a/b/c', '/a/b/d/e'])).toBe('/a/b');
    expect(commonDirectory(['/a/b'])).toBe('/a/b');
    expect(commonDirectory(['/a', '/b'])).toBe('/');
  });

  it('splits a glob into its static prefix and the pattern below it', () => {
    expect(splitGlob('docs/**/*.md', '/work')).toEqual({ base: '/work/docs', pattern: '**/*.md' });
    expect(splitGlob('/abs/dir/*.pdf', '/work')).toEqual({ base: '/abs/dir', pattern: '*.pdf' });
    expect(splitGlob('*.md', '/work')).toEqual({ base: '/work', pattern: '*.md' });
  });
});

describe('expandInputs', () => {
  it('walks folders, skips unsupported and dot files, and makes docIds relative to the common base', async () => {
    const root = await tree([
      'docs/a.md',
      'docs/sub/b.PDF',
      'docs/image.png',
      'docs/.hidden/c.md',
      'notes/n.txt',
    ]);
    const expanded = await expandInputs(['docs', 'notes/n.txt'], root);
    expect(expanded.base).toBe(root);
    expect(expanded.files.map((f) => f.docId)).toEqual(['docs/a.md', 'docs/sub/b.PDF', 'notes/n.txt']);
    expect(expanded.skipped).toEqual([join(root, 'docs/image.png')]);
    expect(expanded.unmatched).toEqual([]);
  });

  it('keeps docIds stable when one folder is given, however many files it holds', async () => {
    const root = await tree(['docs/only/one.md']);
    expect((await expandInputs(['docs'], root)).files.map((f) => f.docId)).toEqual(['only/one.md']);
  });

  it('expands globs, de-duplicates, and reports inputs that match nothing', async () => {
    const root = await tree(['docs/a.md', 'docs/b.md', 'docs/c.txt']);
    const expanded = await expandInputs(['docs/*.md', 'docs/a.md', 'missing', 'docs/*.nothing'], root);
    expect(expanded.files.map((f) => f.docId)).toEqual(['a.md', 'b.md']);
    expect(expanded.unmatched).toEqual(['missing', 'docs/*.nothing']);
  });
});
