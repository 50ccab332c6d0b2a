import { readFileSync, readdirSync } from 'node:fs';
import { SluiceError } from '@sluice/core';
import { parseHTML } from 'linkedom';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeHtml } from './html-extract.js';
import { loadHtml } from './html-loader.js';
import { ParsePool } from './parse-pool.js';
import { splitDocument } from './splitter.js';
import type { LoadedDocument } from './types.js';

const corpus = new URL('../../../test/corpus/html/', import.meta.url);
const read = (path: string): Buffer => readFileSync(new URL(path, corpus));

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
const squash = (value: string): string => value.replace(/\s+/g, ' ').trim();

interface PageExpectation {
  /** Readability's title for the page (its test suite's expected-metadata.json). */
  title: string;
  /** Sentences of the article, whitespace collapsed. */
  article: string[];
  /** Text the page shows around the article (navigation, footers, ads): never in a chunk. */
  around: string[];
  /** Headings of the article, as heading paths of its chunks. */
  paths?: string[];
}

const GOOD: Record<string, PageExpectation> = {
  'heise.html': {
    title: '1Password für Mac generiert Einmal-Passwörter',
    article: [
      'AgileBits hat Version 5.3 seines bekannten Passwortmanagers 1Password für OS X freigegeben.',
      'Unterstützt wird dabei der TOTP-Standard (Time-Based One-Time Passwords)',
    ],
    around: ['Kommentare lesen', 'Newsletter'],
  },
  'hukumusume.html': {
    title: '欲張りなイヌ　＜福娘童話集　きょうのイソップ童話＞',
    article: [
      '肉をくわえたイヌが、橋を渡っていました。',
      'さっきの川の中のイヌは、水にうつった自分の顔だったのです。',
    ],
    around: [],
  },
  'ietf-1.html': {
    title: 'remoteStorage',
    article: ['This draft describes a protocol by which client-side applications,'],
    around: [],
  },
  'v8-blog.html': {
    title: 'standalone WebAssembly binaries using Emscripten · V8',
    article: [
      'Emscripten has always focused first and foremost on compiling to the Web and other JavaScript environments like Node.js.',
    ],
    around: ['Branding', 'Terms', 'Privacy'],
    paths: [
      'standalone WebAssembly binaries using Emscripten · V8 > Using standalone mode in Emscripten > Write your own JavaScript loader',
      "standalone WebAssembly binaries using Emscripten · V8 > WebAssembly's two standard APIs",
    ],
  },
  'wikipedia.html': {
    title: 'Mozilla - Wikipedia',
    article: [
      'Mozilla is a free-software community, created in 1998 by members of Netscape.',
      '| Founded | February 28, 1998; 18 years ago |',
    ],
    around: ['Jump to navigation', 'Personal tools', 'Privacy policy', 'Create account'],
    paths: ['Mozilla - Wikipedia > History[edit] > Eich CEO promotion controversy[edit]'],
  },
};

/** Texts inside `<script>`, `<style>`, `<nav>` and `<noscript>` elements of the raw page: none may reach a chunk. */
function hiddenTexts(html: string): string[] {
  const { document } = parseHTML(html) as unknown as {
    document: { querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }> };
  };
  return Array.from(document.querySelectorAll('script, style, nav, noscript'), (node) =>
    squash(node.textContent ?? ''),
  )
    .filter((value) => value.length >= 40)
    .map((value) => value.slice(0, 40));
}

describe('loadHtml on corpus/html/good', () => {
  it('has an expectation for every file', () => {
    expect(readdirSync(new URL('good/', corpus)).sort()).toEqual(Object.keys(GOOD).sort());
  });

  it.each(Object.entries(GOOD))(
    '%s: the article and its title, no markup, scripts, styles or navigation',
    async (file, page) => {
      const raw = read(`good/${file}`);
      const doc = await loadHtml(pool, raw, { timeoutMs: 30_000 });
      expect(doc.type).toBe('html');
      expect(doc.title).toBe(squash(page.title));
      const loaded = squash(text(doc));
      expect(loaded.startsWith(`# ${squash(page.title)}`)).toBe(true);
      for (const sentence of page.article) expect(loaded).toContain(squash(sentence));
      for (const words of page.around) expect(loaded).not.toContain(words);
      const chunks = await splitDocument(doc, { chunkSize: 1000, chunkOverlap: 200 });
      expect(chunks.length).toBeGreaterThan(0);
      const hidden = hiddenTexts(raw.toString('utf8'));
      for (const chunk of chunks) {
        expect(chunk.text).not.toMatch(
          /<\/?(?:div|span|p|a|script|style|nav|li|ul|table|td|tr|img|meta|link)\b[^>]*>/i,
        );
        expect(chunk.headingPath?.startsWith(squash(page.title))).toBe(true);
        const flat = squash(chunk.text);
        for (const snippet of hidden) expect(flat).not.toContain(snippet);
      }
      const paths = new Set(chunks.map((chunk) => chunk.headingPath));
      for (const path of page.paths ?? []) expect(paths).toContain(path);
    },
  );
});

describe('loadHtml on corpus/html/odd', () => {
  it.each([
    ['odd/heise-windows-1252.html', 'good/heise.html'],
    ['odd/hukumusume-shift_jis.html', 'good/hukumusume.html'],
  ])('decodes %s by its declared charset to what the UTF-8 page gives', async (legacy, utf8) => {
    const [fromLegacy, fromUtf8] = await Promise.all([
      loadHtml(pool, read(legacy)),
      loadHtml(pool, read(utf8)),
    ]);
    expect(text(fromLegacy)).toBe(text(fromUtf8));
    expect(fromLegacy.title).toBe(fromUtf8.title);
    expect(text(fromLegacy)).not.toContain('\uFFFD');
  });

  it('decodes a Word-saved ISO-8859-6 page (Arabic), and a UTF-16LE page by its byte-order mark', async () => {
    const arabic = await loadHtml(pool, read('odd/testHTMLNoisyMetaEncoding_1.html'));
    expect(text(arabic)).toContain('وأعرب الاتحاد الجزائري وقتها عن "أسفه لهذا الموقف غير المقبول');
    expect(text(arabic)).not.toMatch(/MsoNormal|font-family|panose/);
    const utf16 = await loadHtml(pool, read('odd/testHTML_charset_utf16le.html'));
    expect(text(utf16)).toBe('# Title\n\nThis is a sample text');
  });

  it('keeps all visible text of a page that is not an article, without navigation or scripts', async () => {
    const doc = await loadHtml(pool, read('odd/mozilla-2.html'));
    const loaded = text(doc);
    expect(doc.title).toBe('Welcome to Firefox Developer Edition');
    // Readability would keep only the feature list; the whole page keeps the lead and the tools too.
    expect(loaded).toContain(
      'Get to know the features that make it the most complete browser for building the Web.',
    );
    expect(loaded).toContain('- Page Inspector Examine the HTML and CSS of any Web page');
    expect(loaded).not.toMatch(/<[a-z]|function\s*\(|\{\s*[a-z-]+\s*:/i);
    const chunks = await splitDocument(doc, { chunkSize: 500, chunkOverlap: 0 });
    expect(chunks.find((chunk) => chunk.text.includes('Features and tools'))?.headingPath).toBe(
      'Welcome to Firefox Developer Edition > Features and tools',
    );
  });
});

describe('loadHtml on corpus/html/hostile', () => {
  it('fails a page with no visible text with NO_TEXT', async () => {
    expect((await failure(loadHtml(pool, read('hostile/no-visible-text.html')))).code).toBe('NO_TEXT');
  });

  it('fails an empty page with NO_TEXT', async () => {
    expect((await failure(loadHtml(pool, new Uint8Array()))).code).toBe('NO_TEXT');
  });

  it('reads a page nested 5,000 elements deep; one nested 50,000 deep ends in a code, and the pool goes on', async () => {
    const nested = (depth: number): Uint8Array =>
      new TextEncoder().encode(
        `<html><body>${'<div>'.repeat(depth)}deep text${'</div>'.repeat(depth)}<p>after</p></body></html>`,
      );
    expect(text(await loadHtml(pool, nested(5_000)))).toBe('deep text\n\nafter');
    // Past the thread's stack the DOM walk overflows, which the thread reports as INVALID_DOCUMENT
    // (about 3 s alone); on a busy machine the deadline may come first.
    const error = await failure(loadHtml(pool, nested(50_000), { timeoutMs: 10_000 }));
    expect(['INVALID_DOCUMENT', 'PARSE_TIMEOUT']).toContain(error.code);
    if (error.code === 'INVALID_DOCUMENT')
      expect(error.message).toContain('Maximum call stack size exceeded');
    expect(text(await loadHtml(pool, read('good/heise.html')))).toContain('AgileBits');
  }, 60_000);
});

describe('decodeHtml', () => {
  const bytes = (...parts: (string | number[])[]): Uint8Array =>
    Buffer.concat(
      parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))),
    );

  it.each([
    [
      'a <meta charset>',
      bytes('<meta charset="windows-1252"><p>caf', [0xe9], ' ', [0x93], 'x', [0x94]),
      'café “x”',
    ],
    [
      'an http-equiv charset',
      bytes(
        '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS"><p>',
        [0x93, 0xfa, 0x96, 0x7b],
      ),
      '日本',
    ],
    [
      'a UTF-8 byte-order mark over a declaration',
      bytes([0xef, 0xbb, 0xbf], '<meta charset="windows-1252"><p>', [0xc3, 0xa9]),
      'é',
    ],
    ['no declaration, valid UTF-8', bytes('<p>', [0xc3, 0xa9]), 'é'],
    ['no declaration, not UTF-8: windows-1252', bytes('<p>', [0xe9]), 'é'],
    ['an unknown charset label: windows-1252', bytes('<meta charset="x-no-such-thing"><p>', [0xe9]), 'é'],
  ])('honours %s', (_label, input, expected) => {
    expect(decodeHtml(input)).toContain(expected);
  });
});
