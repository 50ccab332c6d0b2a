import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain Node script without type declarations
import { parseManifest, renderNotice } from '../../scripts/corpus-notice.mjs';
import { corpusDir } from '../support/documents.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

type ManifestRow = Record<string, string>;
const manifest = (parseManifest as (text: string) => ManifestRow[])(
  readFileSync(join(corpusDir, 'MANIFEST.tsv'), 'utf8'),
);

/** Every file below the corpus folder except its own bookkeeping. */
function corpusFiles(): string[] {
  const bookkeeping = new Set(['MANIFEST.tsv', 'README.md', 'NOTICE']);
  return readdirSync(corpusDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(corpusDir, join(entry.parentPath, entry.name)))
    .filter((path) => !bookkeeping.has(path))
    .sort();
}

describe('the repository is self-contained', () => {
  it('no tracked file outside the docs points at a folder beside the repository', () => {
    // Built from parts so that this file does not match its own search.
    const outside = ['..', 'shared'].join('/');
    let hits = '';
    try {
      hits = execFileSync('git', ['grep', '-n', '-F', outside, '--', ':!*.md'], {
        cwd: root,
        encoding: 'utf8',
      });
    } catch (err) {
      // git grep exits 1 when nothing matches; anything else (no git, not a checkout) is a failure.
      if ((err as { status?: number }).status !== 1) throw err;
    }
    expect(hits).toBe('');
  });

  it('the corpus holds exactly the files of its manifest, byte for byte', () => {
    expect(corpusFiles()).toEqual(manifest.map((row) => row.path).sort());
    for (const row of manifest) {
      const bytes = readFileSync(join(corpusDir, row.path!));
      expect(bytes.length, row.path).toBe(Number(row.bytes));
      expect(createHash('sha256').update(bytes).digest('hex'), row.path).toBe(row.sha256);
    }
  });

  it('every corpus file has a permissive licence, and NOTICE lists each one (node scripts/corpus-notice.mjs)', () => {
    const permissive = new Set(['Apache-2.0', 'BSD-3-Clause', 'MIT', 'CC-BY-4.0', 'CC-BY-SA-4.0', '']);
    expect(manifest.filter((row) => !permissive.has(row.license!)).map((row) => row.path)).toEqual([]);
    // A file without a licence of its own is one this project made, and says so.
    for (const row of manifest.filter((r) => r.license === '')) {
      expect(row.source_repo, row.path).toBe('');
      expect(row.note, row.path).toMatch(/^created\b/);
    }
    const notice = readFileSync(join(corpusDir, 'NOTICE'), 'utf8');
    expect(notice).toBe((renderNotice as (rows: ManifestRow[]) => string)(manifest));
    for (const row of manifest) expect(notice).toContain(`${row.path} | `);
  });
});
