import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SluiceError, contentHash, type IngestDocumentPayload } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DocumentPlanner } from './document-planner.js';
import { ParsePool } from './parse-pool.js';

const corpus = new URL('../../../test/corpus/', import.meta.url);
const pool = new ParsePool();
let storageDir = '';

beforeAll(async () => {
  storageDir = await mkdtemp(join(tmpdir(), 'sluice-planner-'));
});
afterAll(async () => {
  await pool.close();
  await rm(storageDir, { recursive: true, force: true });
});

/** Stores a corpus file under its hash, as the API does, and returns the job payload for it. */
async function upload(path: string, source: string): Promise<IngestDocumentPayload> {
  const bytes = readFileSync(new URL(path, corpus));
  const key = contentHash(bytes);
  await writeFile(join(storageDir, key), bytes);
  return { collection: 'docs', docId: source, contentHash: key, source, storageKey: key, metadata: {} };
}

async function failure(promise: Promise<unknown>): Promise<SluiceError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
  throw new Error('expected a SluiceError');
}

describe('DocumentPlanner with DOCX and HTML', () => {
  const planner = (): DocumentPlanner =>
    new DocumentPlanner({
      embedder: { id: 'test' },
      parsePool: pool,
      // The directory store's reading, in short (the library does not depend on @sluice/storage).
      uploads: { read: (key) => readFile(join(storageDir, key)) },
      split: { chunkSize: 400, chunkOverlap: 0 },
    });

  it('plans a DOCX: heading paths in chunk metadata, no line numbers, the name as source', async () => {
    const plan = await planner().plan(await upload('docx/good/runbook-libreoffice.docx', 'runbook.docx'));
    expect(plan.pages).toBeUndefined();
    const metadata = plan.chunks.map((chunk) => chunk.metadata);
    expect(metadata.map((m) => m.headingPath)).toContain('Rotating the ingest workers > Before you start');
    expect(metadata.map((m) => m.headingPath)).toContain('Glossary');
    for (const m of metadata) {
      expect(m).toMatchObject({ source: 'runbook.docx', docId: 'runbook.docx' });
      expect(m.lineStart).toBeUndefined();
    }
  });

  it('plans an HTML page sniffed from its bytes, and one sent as text with its type', async () => {
    const plan = await planner().plan(await upload('html/good/v8-blog.html', 'v8-blog'));
    expect(plan.chunks[0]?.metadata.headingPath).toBe(
      'standalone WebAssembly binaries using Emscripten · V8',
    );
    const html =
      '<html><head><title>Inline</title></head><body><h2>Part</h2><p>Sent as JSON text.</p></body></html>';
    const inline = await planner().plan({
      collection: 'docs',
      docId: 'inline',
      contentHash: contentHash(html),
      source: 'inline',
      text: html,
      type: 'html',
      metadata: {},
    });
    expect(inline.chunks.map((chunk) => [chunk.text, chunk.metadata.headingPath])).toEqual([
      ['# Inline\n\n## Part\n\nSent as JSON text.', 'Inline'],
    ]);
  });

  it('fails hostile DOCX files with their codes, through the same pool as PDFs', async () => {
    const codes = await Promise.all(
      [
        ['docx/hostile/bomb-400mb.docx', 'bomb.docx'],
        ['docx/hostile/runbook-password.docx', 'secret.docx'],
        ['docx/hostile/runbook-word97.docx', 'old.docx'],
        ['docx/hostile/empty-libreoffice.docx', 'empty.docx'],
      ].map(async ([path, name]) => (await failure(planner().plan(await upload(path!, name!)))).code),
    );
    expect(codes).toEqual(['TOO_LARGE', 'ENCRYPTED_DOCUMENT', 'UNSUPPORTED_TYPE', 'NO_TEXT']);
    const pdf = await planner().plan(await upload('pdf/good/bitcoin.pdf', 'bitcoin.pdf'));
    expect(pdf.pages).toBe(9);
  }, 60_000);
});
