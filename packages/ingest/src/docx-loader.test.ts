import { readFileSync, readdirSync } from 'node:fs';
import { SluiceError } from '@sluice/core';
import { afterAll, describe, expect, it } from 'vitest';
import { HOSTILE_DOCX } from '../../../test/support/hostile-documents.js';
import { loadDocx } from './docx-loader.js';
import { loadPdf } from './pdf-loader.js';
import { ParsePool } from './parse-pool.js';
import { splitDocument } from './splitter.js';
import type { LoadedDocument } from './types.js';

const corpus = new URL('../../../test/corpus/', import.meta.url);
const good = new URL('docx/good/', corpus);
const hostile = new URL('docx/hostile/', corpus);
const read = (dir: URL, file: string): Buffer => readFileSync(new URL(file, dir));

const pool = new ParsePool();
afterAll(() => pool.close());

async function failure(promise: Promise<unknown>): Promise<SluiceError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
  throw new Error('expected a SluiceError');
}

const text = (doc: LoadedDocument): string => doc.sections.map((section) => section.text).join('\n');

/** What each good file must yield, line by line, in this order (not necessarily adjacent). */
const EXPECTED: Record<string, readonly string[]> = {
  // LibreOffice 7.4 from a Flat ODT made for the corpus: every structure the loader handles.
  'runbook-libreoffice.docx': [
    '# Rotating the ingest workers',
    'This runbook replaces every ingest worker of a cluster without losing or duplicating a document.[^1] Read it to the end before you start.',
    '[^1]: Tested with two workers and a queue of 300 Markdown pages.',
    '## Before you start',
    '- the queue depth is below 1,000 jobs;',
    '- Chroma answers its heartbeat;',
    '  - from every worker node,',
    '  - within 200 ms;',
    '- no audit reports drift.',
    '## Steps',
    '1. Start one new worker and wait until its readiness probe answers 200.',
    '2. Send SIGTERM to one old worker; its jobs return to the queue without spending an attempt.',
    '3. Repeat until no old worker is left.',
    'Comment [1]: Never SIGKILL first: the job waits for its lock to expire.',
    '### Timeouts',
    '| Setting | Default | Meaning |',
    '| DRAIN_TIMEOUT_MS | 20000 | how long in-flight jobs may run after SIGTERM |',
    '| PARSE_TIMEOUT_MS | 120000 | the longest a parse may take |',
    '\\# this paragraph starts with a hash sign but is not a heading',
    '\\`\\`\\`',
    '# Glossary',
    '| Ελληνικά | διεργασία εργάτη |',
    '| Русский | рабочий процесс |',
    '| 中文 | 工作进程 |',
    '| 日本語 | ワーカープロセス |',
    '| العربية | عملية العامل |',
    '| हिन्दी | कार्यकर्ता प्रक्रिया |',
    'An endnote closes the glossary.[^2]',
    '[^2]: Translations by the operations team, 2026.',
  ],
  // Word, from Apache Tika's test documents.
  'testWORD.docx': [
    '# Sample Word Document Title',
    '## And now for a subtitle',
    '# Heading Level 1',
    '## Heading Level 2',
    '### Heading Level 3',
    'This document includes text that is BOLD and ITALIC.',
    '| This is a table |  |',
    '|  | Nested table More of our nested table |',
    '| The table has things in it |  |',
  ],
  'testWORD_various.docx': [
    'Footnote appears here[^1]',
    '[^1]: This is a footnote.',
    '- Bullet 1',
    '- Bullet 3',
    '1. Number bullet 1',
    '3. Number bullet 3',
    '| Row 1 Col 1 | Row 1 Col 2 | Row 1 Col 3 |',
    '| Row 2 Col 1 | Row 2 Col 2 | Row 2 Col 3 |',
    'ゾルゲと尾崎、淡々と最期',
    '𐌲𐌿𐍄𐌹𐍃𐌺',
  ],
  'footnotes.docx': ['Eto ochen prostoy[^1] text so snoskoy', '[^1]: snoska'],
  'testComment.docx': ['Here is some text.', 'Comment [MM1]: Here is a comment'],
  'testWORD_numbered_list.docx': [
    '1. This',
    '  1. Is',
    '    1. A multi',
    '| Intervening table | Within cell 1 Cell a Cell b |  |  |',
    'This is a new list that starts at 6, with a custom change of b. -> e.',
    'Comment [I1]: Let’s add a list here comment list 1. comment list 2 comment list 2a',
    '[^1]: Footnote list Footnote list 1 Footnote list 2 Footnote list 2a',
  ],
  // Word, from python-docx's test files: comments, one holding a heading.
  'comments-rich-para.docx': [
    'Some text worthy of note.',
    'Comment [SJC1]: Text with hyperlink https://google.com embedded.',
    'Other text worthy of note.',
    'Comment [2]: Text with inline image in the middle.',
    'Paragraph 6',
    'Comment [4]: Paragraph with Heading 2 paragraph style.',
    'Paragraph 7',
  ],
};

/** What each hostile file must end in. */
const HOSTILE = HOSTILE_DOCX;

describe('loadDocx on corpus/docx/good', () => {
  it('has an expectation for every file', () => {
    expect(readdirSync(good).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED))(
    '%s yields its headings, lists, tables, notes and comments',
    async (file, lines) => {
      const doc = await loadDocx(pool, read(good, file), { timeoutMs: 30_000 });
      expect(doc.type).toBe('docx');
      const loaded = text(doc).split('\n');
      let from = 0;
      for (const line of lines) {
        const at = loaded.indexOf(line, from);
        expect(at, `${file}: ${JSON.stringify(line)} after line ${from}`).toBeGreaterThanOrEqual(0);
        from = at + 1;
      }
      // Text only: no tag, no back-link arrow, no raw comment marker.
      expect(text(doc)).not.toMatch(/<\/?[a-z][a-z0-9]*[\s>/]|↑/i);
    },
  );

  it('gives chunks the heading path they stand under, as Markdown chunks get theirs', async () => {
    const doc = await loadDocx(pool, read(good, 'runbook-libreoffice.docx'));
    const chunks = await splitDocument(doc, { chunkSize: 300, chunkOverlap: 0 });
    const pathOf = (needle: string): string | undefined =>
      chunks.find((chunk) => chunk.text.includes(needle))?.headingPath;
    expect(pathOf('This runbook replaces')).toBe('Rotating the ingest workers');
    expect(pathOf('the queue depth is below')).toBe('Rotating the ingest workers > Before you start');
    expect(pathOf('| PARSE_TIMEOUT_MS |')).toBe('Rotating the ingest workers > Steps > Timeouts');
    // A paragraph that starts with `#` is escaped, so it neither becomes nor ends a heading.
    expect(pathOf('starts with a hash sign')).toBe('Rotating the ingest workers > Steps > Timeouts');
    expect(pathOf('An endnote closes the glossary')).toBe('Glossary');
    // The three backticks stay escaped in the chunk too, whichever chunk they land in.
    expect(chunks.some((chunk) => chunk.text.includes('\\`\\`\\`'))).toBe(true);
    expect(chunks.some((chunk) => /^```/m.test(chunk.text))).toBe(false);
    for (const chunk of chunks) {
      expect(chunk.lineStart).toBeUndefined();
      expect(chunk.text.length).toBeLessThanOrEqual(300);
    }
  });

  it('keeps a footnote with the paragraph that cites it, in the same chunk', async () => {
    const doc = await loadDocx(pool, read(good, 'testWORD_various.docx'));
    const chunks = await splitDocument(doc, { chunkSize: 200, chunkOverlap: 0 });
    const cited = chunks.find((chunk) => chunk.text.includes('Footnote appears here'));
    expect(cited?.text).toContain('[^1]: This is a footnote.');
  });
});

describe('loadDocx on corpus/docx/hostile', () => {
  it('has an expected outcome for every file', () => {
    expect(readdirSync(hostile).sort()).toEqual(Object.keys(HOSTILE).sort());
  });

  it.each(Object.entries(HOSTILE))('%s → %s', async (file, code) => {
    const error = await failure(loadDocx(pool, read(hostile, file), { timeoutMs: 30_000 }));
    expect(error.code).toBe(code);
  });

  it('names what it refused', async () => {
    const messages = await Promise.all(
      ['runbook-password.docx', 'runbook-word97.docx', 'runbook-corrupt.docx', 'runbook-truncated.docx'].map(
        async (file) => (await failure(loadDocx(pool, read(hostile, file)))).message,
      ),
    );
    expect(messages).toEqual([
      expect.stringContaining('needs a password'),
      expect.stringContaining('Word 97-2003 document (.doc)'),
      expect.stringContaining('word/document.xml inflates to'),
      expect.stringContaining('not a readable ZIP archive'),
    ]);
  });

  it('refuses bytes that are not a ZIP archive, and an empty file, as INVALID_DOCUMENT', async () => {
    const html = new TextEncoder().encode('<html><body>404 Not Found</body></html>');
    expect((await failure(loadDocx(pool, html))).code).toBe('INVALID_DOCUMENT');
    expect((await failure(loadDocx(pool, new Uint8Array()))).code).toBe('INVALID_DOCUMENT');
  });
});

describe('loadDocx on the zip bombs', () => {
  it.each(['bomb-400mb.docx', 'bomb-400mb-lying-sizes.docx'])(
    'stops %s at the unzipped-size cap without the process growing past it, and keeps parsing afterwards',
    async (file) => {
      const maxUnzippedMb = 16;
      const bytes = read(hostile, file);
      const rssBefore = process.memoryUsage.rss();
      let peak = rssBefore;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage.rss());
      }, 5);
      const started = performance.now();
      try {
        const error = await failure(loadDocx(pool, bytes, { maxUnzippedMb, timeoutMs: 30_000 }));
        expect(error.code).toBe('TOO_LARGE');
        expect(error.message).toContain(`cap of ${maxUnzippedMb} MiB`);
      } finally {
        clearInterval(sampler);
      }
      expect(performance.now() - started).toBeLessThan(10_000);
      // 400 MiB inflated would show; the stream stops after 16, and discards what it counts.
      expect((peak - rssBefore) / 1024 / 1024).toBeLessThan(maxUnzippedMb * 8);
      const after = await loadDocx(pool, read(good, 'footnotes.docx'));
      expect(text(after)).toContain('snoska');
      const pdf = await loadPdf(pool, readFileSync(new URL('pdf/good/bitcoin.pdf', corpus)));
      expect(pdf.pages).toBe(9);
    },
    60_000,
  );

  it('also stops a bomb by the memory cap when the unzipped-size cap is out of the way', async () => {
    // With a cap far above the XML, mammoth would build a 400 MiB document: the heap cap stops it.
    const error = await failure(
      loadDocx(pool, read(hostile, 'bomb-400mb.docx'), {
        maxUnzippedMb: 4096,
        maxMemoryMb: 128,
        timeoutMs: 30_000,
      }),
    );
    expect(error.code).toBe('PARSE_TIMEOUT');
    expect((await loadDocx(pool, read(good, 'testComment.docx'))).type).toBe('docx');
  }, 60_000);
});
