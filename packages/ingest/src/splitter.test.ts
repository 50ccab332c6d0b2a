import { readFileSync, readdirSync } from 'node:fs';
import { SluiceError } from '@sluice/core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPdf } from './pdf-loader.js';
import { ParsePool } from './parse-pool.js';
import { resolveSplitOptions, splitDocument, splitterSettings } from './splitter.js';
import { loadText } from './text-loader.js';
import type { Chunk, LoadedDocument } from './types.js';

const corpus = new URL('../../../test/corpus/', import.meta.url);
const docsDir = new URL('markdown/en/docs/', corpus);
const options = { chunkSize: 500, chunkOverlap: 50 };

const pool = new ParsePool();
afterAll(() => pool.close());

function markdownFile(path: string): { raw: string; doc: LoadedDocument } {
  const bytes = readFileSync(new URL(path, docsDir));
  return { raw: bytes.toString('utf8').replace(/\r\n?/g, '\n'), doc: loadText(bytes, 'markdown') };
}

/** {@link markdownFile}, or `undefined` for a page that is only front matter (a Hugo section index). */
function loadedOrEmpty(path: string): ReturnType<typeof markdownFile> | undefined {
  try {
    return markdownFile(path);
  } catch (err) {
    if (err instanceof SluiceError && err.code === 'NO_TEXT') return undefined;
    throw err;
  }
}

/** Every 20th Markdown page of the English docs, in a stable order. */
function sampleOfDocs(): string[] {
  const files = readdirSync(docsDir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.md'))
    .sort();
  return files.filter((_, i) => i % 20 === 0);
}

/** The chunk's lines in the original file contain its text, starting on its first line. */
function expectLinesToHold(original: string, chunk: Chunk): void {
  const lines = original.split('\n');
  expect(chunk.lineStart).toBeGreaterThanOrEqual(1);
  expect(chunk.lineEnd).toBeGreaterThanOrEqual(chunk.lineStart ?? Infinity);
  const span = lines.slice((chunk.lineStart ?? 0) - 1, chunk.lineEnd).join('\n');
  expect(span).toContain(chunk.text);
  const firstLine = chunk.text.split('\n')[0] ?? '';
  expect(lines[(chunk.lineStart ?? 0) - 1]).toContain(firstLine);
  expect(chunk.text.split('\n')).toHaveLength((chunk.lineEnd ?? 0) - (chunk.lineStart ?? 0) + 1);
}

describe('splitDocument on Markdown', () => {
  it('gives Kubernetes pages heading paths, line ranges of the original file and bounded sizes', async () => {
    const { raw, doc } = markdownFile('concepts/workloads/pods/pod-lifecycle.md');
    const chunks = await splitDocument(doc, options);
    expect(chunks.length).toBeGreaterThan(20);
    expect(chunks.map((chunk) => chunk.index)).toEqual(chunks.map((_, i) => i));
    for (const chunk of chunks) {
      expect(chunk.text.length).toBeLessThanOrEqual(options.chunkSize);
      expect(chunk.text.trim()).toBe(chunk.text);
      expect(chunk.page).toBeUndefined();
      expectLinesToHold(raw, chunk);
    }
    // The intro (lines 7–23) comes before any heading; front matter (lines 1–5) yields nothing.
    expect(chunks[0]?.lineStart).toBe(7);
    expect(chunks[0]?.headingPath).toBeUndefined();
    const lifetime = chunks.find((chunk) => chunk.text.startsWith('## Pod lifetime'));
    expect(lifetime).toMatchObject({ lineStart: 25, headingPath: 'Pod lifetime' });
    const recovery = chunks.find((chunk) => chunk.text.includes('### Pods and fault recovery'));
    expect(
      chunks.find((chunk) => (chunk.lineStart ?? 0) > (recovery?.lineStart ?? Infinity))?.headingPath,
    ).toBe('Pod lifetime > Pods and fault recovery');
    // "# container restart delays…" at line 282 is a comment inside a ```yaml fence.
    const inFence = chunks.filter((chunk) => (chunk.lineStart ?? 0) >= 263 && (chunk.lineStart ?? 0) < 296);
    expect(inFence.length).toBeGreaterThan(0);
    for (const chunk of inFence) {
      expect(chunk.headingPath).toBe(
        'How Pods handle problems with containers > Configurable container restart delay',
      );
    }
  });

  it('keeps every chunk of a sample of the docs within chunkSize and on the lines it came from', async () => {
    const files = sampleOfDocs();
    expect(files.length).toBeGreaterThan(50);
    let withHeadings = 0;
    for (const file of files) {
      const loaded = loadedOrEmpty(file);
      if (!loaded) continue;
      const { raw, doc } = loaded;
      for (const chunk of await splitDocument(doc, options)) {
        expect(chunk.text.length).toBeLessThanOrEqual(options.chunkSize);
        expectLinesToHold(raw, chunk);
        if (chunk.headingPath) withHeadings += 1;
      }
    }
    expect(withHeadings).toBeGreaterThan(100);
  });

  it('maps repeated texts to successive places', async () => {
    const paragraph = 'The same paragraph, again and again.';
    const text = Array.from({ length: 40 }, () => paragraph).join('\n\n');
    const doc: LoadedDocument = { type: 'text', sections: [{ text }] };
    const chunks = await splitDocument(doc, { chunkSize: 80, chunkOverlap: 0 });
    expect(chunks.length).toBeGreaterThan(10);
    const starts = chunks.map((chunk) => chunk.lineStart ?? 0);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    expect(new Set(starts).size).toBe(starts.length);
    for (const chunk of chunks) expectLinesToHold(text, chunk);
    expect(chunks.at(-1)?.lineEnd).toBe(79);
  });

  it('handles overlap that repeats lines', async () => {
    const text = Array.from({ length: 200 }, (_, i) => `line ${i % 7}`).join('\n');
    const chunks = await splitDocument(
      { type: 'text', sections: [{ text }] },
      { chunkSize: 60, chunkOverlap: 30 },
    );
    for (const chunk of chunks) expectLinesToHold(text, chunk);
    expect(chunks[0]?.lineStart).toBe(1);
    expect(chunks.at(-1)?.lineEnd).toBe(200);
  });

  it('is deterministic', async () => {
    const { doc } = markdownFile('concepts/workloads/pods/pod-lifecycle.md');
    const first = await splitDocument(doc, options);
    const again = await splitDocument(markdownFile('concepts/workloads/pods/pod-lifecycle.md').doc, options);
    expect(again).toEqual(first);
  });

  it('drops whitespace-only pieces', async () => {
    const doc: LoadedDocument = { type: 'text', sections: [{ text: '\n\n   \n\t\n' }] };
    expect(await splitDocument(doc, options)).toEqual([]);
  });
});

describe('splitDocument on PDF', () => {
  it('splits page by page, so every chunk carries its page and comes from it', async () => {
    const doc = await loadPdf(pool, readFileSync(new URL('pdf/good/pdflatex-4-pages.pdf', corpus)), {
      timeoutMs: 30_000,
    });
    const chunks = await splitDocument(doc, { chunkSize: 300, chunkOverlap: 30 });
    expect(new Set(chunks.map((chunk) => chunk.page))).toEqual(new Set([1, 2, 3, 4]));
    let lastPage = 0;
    for (const [i, chunk] of chunks.entries()) {
      expect(chunk.index).toBe(i);
      expect(chunk.text.length).toBeLessThanOrEqual(300);
      expect(chunk.lineStart).toBeUndefined();
      expect(chunk.headingPath).toBeUndefined();
      expect(chunk.page).toBeGreaterThanOrEqual(lastPage);
      lastPage = chunk.page ?? 0;
      expect(doc.sections.find((section) => section.page === chunk.page)?.text).toContain(chunk.text);
    }
    expect(await splitDocument(doc, { chunkSize: 300, chunkOverlap: 30 })).toEqual(chunks);
  });

  it('gives an empty page no chunks', async () => {
    const doc: LoadedDocument = {
      type: 'pdf',
      pages: 3,
      sections: [
        { text: 'first page', page: 1 },
        { text: ' \n ', page: 2 },
        { text: 'third page', page: 3 },
      ],
    };
    expect(await splitDocument(doc, options)).toEqual([
      { text: 'first page', index: 0, page: 1 },
      { text: 'third page', index: 1, page: 3 },
    ]);
  });
});

describe('split options and settings', () => {
  it('defaults to 1000/200 and rejects settings that make no sense', () => {
    expect(resolveSplitOptions()).toEqual({ chunkSize: 1000, chunkOverlap: 200 });
    expect(() => resolveSplitOptions({ chunkSize: 0 })).toThrow(RangeError);
    expect(() => resolveSplitOptions({ chunkSize: 100, chunkOverlap: 100 })).toThrow(RangeError);
    expect(() => resolveSplitOptions({ chunkSize: 100.5 })).toThrow(RangeError);
  });

  it('reports every setting that changes chunks, the library version included', () => {
    const settings = splitterSettings(options);
    expect(settings).toMatchObject({
      chunkSize: 500,
      chunkOverlap: 50,
      splitter: 'RecursiveCharacterTextSplitter',
    });
    expect(settings.library).toMatch(/^@langchain\/textsplitters@\d+\.\d+\.\d+/);
    expect(splitterSettings({ chunkSize: 501, chunkOverlap: 50 })).not.toEqual(settings);
    expect(splitterSettings()).toMatchObject({ chunkSize: 1000, chunkOverlap: 200 });
  });
});
