#!/usr/bin/env node
// Writes test/corpus/NOTICE from test/corpus/MANIFEST.tsv: source, path and licence of every
// corpus file. `node scripts/corpus-notice.mjs --check` exits 1 when NOTICE is out of date
// (test/corpus/corpus.test.ts runs the same comparison).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const corpusDir = fileURLToPath(new URL('../test/corpus/', import.meta.url));

/** Licences of the files this project made itself (not copied from anywhere). */
const MADE_HERE = 'made for this corpus';

/**
 * Parses MANIFEST.tsv into one record per file, keyed by its header row.
 * @param {string} text
 * @returns {Array<Record<string, string>>}
 */
export function parseManifest(text) {
  const [header, ...rows] = text.split('\n').filter((line) => line !== '');
  const columns = header.split('\t');
  return rows.map((row) => {
    const fields = row.split('\t');
    return Object.fromEntries(columns.map((name, i) => [name, fields[i] ?? '']));
  });
}

/**
 * The NOTICE text for a manifest.
 * @param {Array<Record<string, string>>} files
 */
export function renderNotice(files) {
  const lines = [
    'Sluice test corpus: third-party files and their licences',
    '',
    'Every file below test/corpus/ except those marked "made for this corpus" is an unchanged',
    "copy of a file in a public repository, distributed under that repository's licence. Many",
    'test files in those repositories were collected by their projects from public bug reports',
    "and other documents; their original authors' rights may apply. Checksums are in MANIFEST.tsv.",
    '',
    'Licence texts: https://spdx.org/licenses/<identifier>.html',
    '',
    'Format: path | source (repository@commit:path) | licence',
    '',
  ];
  for (const file of files) {
    const source = file.source_repo
      ? `${file.source_repo}@${file.source_commit}:${file.source_path}`
      : `${MADE_HERE}: ${file.note}`;
    const licence = file.license || derivedLicence(file, files);
    lines.push(`${file.path} | ${source} | ${licence}`);
  }
  return `${lines.join('\n')}\n`;
}

// A made file cut or assembled from other corpus files (truncated.pdf, bitcoin-with-cover.pdf)
// keeps those files' licences.
function derivedLicence(file, files) {
  const origins = [...file.note.matchAll(/\b((?:pdf|markdown|docx|html)\/[^\s,]+\.[a-z]+)/g)]
    .map((match) => files.find((other) => other.path === match[1]))
    .filter((origin) => origin !== undefined && origin.license);
  if (origins.length === 0) return 'CC0-1.0 (made for this corpus)';
  return origins.map((origin) => `${origin.license} (derived from ${origin.path})`).join(' AND ');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = parseManifest(readFileSync(`${corpusDir}MANIFEST.tsv`, 'utf8'));
  const notice = renderNotice(files);
  if (process.argv.includes('--check')) {
    const current = readFileSync(`${corpusDir}NOTICE`, 'utf8');
    if (current !== notice) {
      console.error('test/corpus/NOTICE is out of date: run node scripts/corpus-notice.mjs');
      process.exit(1);
    }
  } else {
    writeFileSync(`${corpusDir}NOTICE`, notice);
  }
}
