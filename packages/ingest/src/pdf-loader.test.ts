import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { SluiceError } from '@sluice/core';
import type { ErrorCode } from '@sluice/core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPdf } from './pdf-loader.js';
import { ParsePool } from './parse-pool.js';
import { HOSTILE_PDFS } from '../../../test/support/hostile-pdfs.js';

const corpus = new URL('../../../test/corpus/', import.meta.url);
const good = new URL('pdf/good/', corpus);
const hostile = new URL('pdf/hostile/', corpus);
const read = (dir: URL, file: string): Buffer => readFileSync(new URL(file, dir));

const pool = new ParsePool();
afterAll(() => pool.close());

/**
 * Runs at most one parse per core at a time. Tests start together (`it.concurrent`) but more
 * parses than cores only slow each other down and make the pool start and retire threads.
 */
function limitConcurrency(max: number): <T>(run: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (run) => {
    if (running < max) running += 1;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await run();
    } finally {
      // The slot passes straight to the next waiter, so a newcomer cannot slip in between.
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  };
}

const oneCorePerParse = limitConcurrency(availableParallelism());

async function outcome(promise: Promise<unknown>): Promise<ErrorCode | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    if (err instanceof SluiceError) return err.code;
    throw err;
  }
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

const HOSTILE = HOSTILE_PDFS;

const BOMB = 'bomb_giant.pdf';

/** MANIFEST.tsv rows by file name: what pdf-parse 2.4.5 extracted from each file in its own process. */
function manifest(kind: 'pdf-good' | 'pdf-hostile'): Map<string, Record<string, string>> {
  const [header = '', ...rows] = readFileSync(new URL('MANIFEST.tsv', corpus), 'utf8').trimEnd().split('\n');
  const names = header.split('\t');
  const records = rows.map(
    (row) =>
      Object.fromEntries(row.split('\t').map((value, i) => [names[i], value])) as Record<string, string>,
  );
  return new Map(
    records
      .filter((record) => record.kind === kind)
      .map((record): [string, Record<string, string>] => [record.path?.split('/').at(-1) ?? '', record]),
  );
}

describe('loadPdf on corpus/pdf/good', () => {
  const files = readdirSync(good)
    .filter((file) => file.endsWith('.pdf'))
    .sort();
  const expected = manifest('pdf-good');

  it('finds the corpus', () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
    expect([...expected.keys()].sort()).toEqual(files);
  });

  it.concurrent.each(files)('loads %s with the pages and text pdf-parse gives it', async (file) => {
    const doc = await oneCorePerParse(() => loadPdf(pool, read(good, file), { timeoutMs: 30_000 }));
    const row = expected.get(file);
    expect(doc.type).toBe('pdf');
    expect(doc.pages).toBe(Number(row?.pages));
    expect(doc.sections.map((section) => section.page)).toEqual(doc.sections.map((_, i) => i + 1));
    const text = doc.sections.map((section) => section.text).join('');
    expect(text.length).toBe(Number(row?.pdfparse_chars));
    expect(text.replace(/\s/g, '').length).toBe(Number(row?.pdfparse_chars_nonspace));
  });
});

describe('loadPdf on corpus/pdf/hostile', () => {
  it('has an expected outcome for every file, consistent with MANIFEST.tsv', () => {
    const listed = readdirSync(hostile)
      .filter((file) => file.endsWith('.pdf'))
      .sort();
    expect(HOSTILE.map(([file]) => file).sort()).toEqual(listed);
    const rows = manifest('pdf-hostile');
    for (const [file, expected] of HOSTILE) {
      const row = rows.get(file);
      const fromManifest =
        row?.pdfparse_status === 'text'
          ? 'ok'
          : row?.pdfparse_status === 'no-text'
            ? 'NO_TEXT'
            : row?.pdfparse_status === 'timeout'
              ? 'PARSE_TIMEOUT'
              : row?.pdfparse_error?.startsWith('PasswordException')
                ? 'ENCRYPTED_DOCUMENT'
                : 'INVALID_DOCUMENT';
      expect({ file, expected }).toEqual({ file, expected: fromManifest });
    }
  });

  it.concurrent.each(HOSTILE.filter(([file]) => file !== BOMB))('%s → %s (%s)', async (file, expected) => {
    const loading = oneCorePerParse(() =>
      loadPdf(pool, read(hostile, file), { timeoutMs: 20_000, maxMemoryMb: 512 }),
    );
    expect(await outcome(loading)).toBe(expected);
  });

  it('names the pdf.js error in the message', async () => {
    const error = await failure(loadPdf(pool, read(hostile, 'Pages-tree-refs.pdf')));
    expect(error.message).toContain('UnknownErrorException: Pages tree contains circular reference');
    expect((await failure(loadPdf(pool, read(hostile, 'r6-user-password.pdf')))).message).toContain(
      'PasswordException',
    );
  });
});

describe('loadPdf on the bomb', () => {
  it('stops bomb_giant.pdf with PARSE_TIMEOUT within its limits, and keeps parsing afterwards', async () => {
    const timeoutMs = 10_000;
    const started = performance.now();
    const error = await failure(loadPdf(pool, read(hostile, BOMB), { timeoutMs, maxMemoryMb: 512 }));
    const elapsed = performance.now() - started;
    expect(error.code).toBe('PARSE_TIMEOUT');
    expect(elapsed).toBeLessThan(timeoutMs + 5_000);
    // Nothing is wedged: the next documents parse as usual.
    const [bitcoin, owner] = await Promise.all([
      loadPdf(pool, read(good, 'bitcoin.pdf'), { timeoutMs: 20_000 }),
      loadPdf(pool, read(hostile, 'r4-owner-password.pdf'), { timeoutMs: 20_000 }),
    ]);
    expect(bitcoin.pages).toBe(9);
    expect(owner.sections[0]?.text).toMatch(/\S/);
  }, 60_000);
});

describe('loadPdf', () => {
  it('copies the bytes it is given: a Buffer from the shared pool is neither detached nor misread', async () => {
    // Small Buffers share one pooled ArrayBuffer with other data; only the view's bytes may go.
    const pdf = read(hostile, 'xref_command_missing.pdf');
    const pooled = Buffer.from(pdf);
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.byteLength);
    const doc = await loadPdf(pool, pooled, { timeoutMs: 20_000 });
    expect(doc.sections[0]?.text).toContain('Reduced test-case');
    expect(pooled.equals(pdf)).toBe(true);
  });

  it('settles at its deadline with PARSE_TIMEOUT', async () => {
    const started = performance.now();
    const error = await failure(loadPdf(pool, read(hostile, 'issue-1688a.pdf'), { timeoutMs: 600 }));
    expect(error.code).toBe('PARSE_TIMEOUT');
    expect(error.message).toContain('600 ms');
    expect(performance.now() - started).toBeLessThan(1_500);
  });

  it('stops at once when aborted, with PREEMPTED or the SluiceError given as reason', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = performance.now();
    expect(
      (await failure(loadPdf(pool, read(hostile, 'issue-1688a.pdf'), { signal: controller.signal }))).code,
    ).toBe('PREEMPTED');
    expect(performance.now() - started).toBeLessThan(1_500);
    const reason = new SluiceError('SHUTTING_DOWN', 'bye');
    const aborted = AbortSignal.abort(reason);
    expect(await failure(loadPdf(pool, read(good, 'bitcoin.pdf'), { signal: aborted }))).toBe(reason);
  });

  it('reports progress page by page', async () => {
    const seen: string[] = [];
    await loadPdf(pool, read(good, 'pdflatex-4-pages.pdf'), {
      onPage: (page, pages) => seen.push(`${page}/${pages}`),
    });
    expect(seen).toEqual(['1/4', '2/4', '3/4', '4/4']);
  });
});
