import { readFileSync } from 'node:fs';
import { SluiceError } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { ParsePool } from './parse-pool.js';
import type { ParseInput } from './parse-pool.js';

const corpus = new URL('../../../test/corpus/', import.meta.url);

function file(kind: ParseInput['kind'], path: string): ParseInput {
  const bytes = readFileSync(new URL(path, corpus));
  return { kind, data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
}

const pdf = (path: string): ParseInput => file('pdf', path);
/** Bytes for a stand-in thread, which never reads them. */
const anyBytes = (): ParseInput => ({ kind: 'pdf', data: new ArrayBuffer(8) });

/** A stand-in thread: says it is ready, then runs `onRequest` for each request. */
function fakeThread(onRequest: string): URL {
  const source = `
    import { parentPort } from 'node:worker_threads';
    parentPort.on('message', (request) => { ${onRequest} });
    parentPort.postMessage({ type: 'ready' });
  `;
  return new URL(`data:text/javascript,${encodeURIComponent(source)}`);
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

const limits = { timeoutMs: 20_000, maxMemoryMb: 256 };

describe('ParsePool', () => {
  it('reuses a thread across parses', async () => {
    const pool = new ParsePool({ maxIdleThreads: 1 });
    try {
      const first = await pool.parse(pdf('pdf/good/bitcoin.pdf'), limits);
      expect(first.pages).toBe(9);
      expect(pool.threadCount).toBe(1);
      const second = await pool.parse(pdf('pdf/good/pdflatex-4-pages.pdf'), limits);
      expect(second.sections.map((section) => section.page)).toEqual([1, 2, 3, 4]);
      expect(pool.threadCount).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('parses PDF, DOCX and HTML in one reused thread', async () => {
    const pool = new ParsePool({ maxIdleThreads: 1 });
    try {
      expect((await pool.parse(pdf('pdf/good/bitcoin.pdf'), limits)).pages).toBe(9);
      const docx = await pool.parse(file('docx', 'docx/good/testComment.docx'), limits);
      expect(docx.sections[0]?.text).toContain('Comment [MM1]: Here is a comment');
      const html = await pool.parse(file('html', 'html/good/heise.html'), limits);
      expect(html.title).toBe('1Password für Mac generiert Einmal-Passwörter');
      expect(pool.threadCount).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('stops a DOCX that inflates for too long at its deadline, and goes on with a fresh thread', async () => {
    const pool = new ParsePool({ maxIdleThreads: 1 });
    try {
      await pool.parse(file('docx', 'docx/good/footnotes.docx'), limits);
      // No unzipped-size cap to speak of: only the deadline can stop the 400 MiB of XML.
      const bomb = file('docx', 'docx/hostile/bomb-400mb.docx');
      const error = await failure(pool.parse(bomb, { ...limits, timeoutMs: 150, maxUnzippedBytes: 2 ** 40 }));
      expect(error.code).toBe('PARSE_TIMEOUT');
      expect(error.message).toContain('DOCX parsing did not finish within 150 ms');
      expect(pool.threadCount).toBe(0);
      const after = await pool.parse(file('docx', 'docx/good/footnotes.docx'), limits);
      expect(after.sections[0]?.text).toContain('snoska');
    } finally {
      await pool.close();
    }
  });

  it('runs one parse at a time by default, so the memory guard blames the right one', async () => {
    // A stand-in thread that answers after 150 ms and counts how many parses overlap.
    const pool = new ParsePool({
      threadUrl: fakeThread(`
        globalThis.inFlight = (globalThis.inFlight ?? 0) + 1;
        setTimeout(() => {
          parentPort.postMessage({ type: 'done', id: request.id, pages: 1, sections: [{ page: 1, text: 'x' }] });
        }, 150);
      `),
    });
    try {
      const started = performance.now();
      const results = await Promise.all([1, 2, 3].map(() => pool.parse(anyBytes(), limits)));
      expect(results.every((r) => r.pages === 1)).toBe(true);
      // Three parses of 150 ms each, one after another.
      expect(performance.now() - started).toBeGreaterThanOrEqual(440);
      expect(pool.threadCount).toBeLessThanOrEqual(1);
    } finally {
      await pool.close();
    }
  });

  it('lets a waiting parse be aborted before it starts', async () => {
    const pool = new ParsePool({ threadUrl: fakeThread('') });
    const controller = new AbortController();
    try {
      const first = pool.parse(anyBytes(), { ...limits, timeoutMs: 1000 });
      const second = pool.parse(anyBytes(), { ...limits, signal: controller.signal });
      controller.abort(new SluiceError('PREEMPTED', 'draining'));
      expect((await failure(second)).code).toBe('PREEMPTED');
      expect((await failure(first)).code).toBe('PARSE_TIMEOUT');
    } finally {
      await pool.close();
    }
  });

  it('never reuses a thread it stopped, and goes on with a fresh one', async () => {
    const pool = new ParsePool({ maxIdleThreads: 1 });
    try {
      // A warm thread, so that the deadline falls inside pdf.js rather than during thread start.
      await pool.parse(pdf('pdf/good/crazyones-pdfa.pdf'), limits);
      expect(pool.threadCount).toBe(1);
      const error = await failure(
        pool.parse(pdf('pdf/hostile/issue-1688a.pdf'), { ...limits, timeoutMs: 500 }),
      );
      expect(error.code).toBe('PARSE_TIMEOUT');
      expect(pool.threadCount).toBe(0);
      expect((await pool.parse(pdf('pdf/good/bitcoin.pdf'), limits)).pages).toBe(9);
    } finally {
      await pool.close();
    }
  });

  it('keeps at most maxIdleThreads ready threads and retires a thread after maxParsesPerThread', async () => {
    const pool = new ParsePool({ maxIdleThreads: 1, maxParsesPerThread: 2 });
    try {
      await Promise.all([1, 2, 3].map(() => pool.parse(pdf('pdf/good/crazyones-pdfa.pdf'), limits)));
      expect(pool.threadCount).toBe(1);
      await pool.parse(pdf('pdf/good/crazyones-pdfa.pdf'), limits);
      expect(pool.threadCount).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('turns a thread that runs out of heap into PARSE_TIMEOUT naming the memory cap', async () => {
    const pool = new ParsePool({
      threadUrl: fakeThread(
        'const hoard = []; for (;;) hoard.push({ filler: new Array(1000).fill(Math.random()) });',
      ),
      // The resident-memory guard would stop it first; this is about V8's own limit.
      memoryCheckIntervalMs: 600_000,
    });
    const error = await failure(pool.parse(anyBytes(), { timeoutMs: 30_000, maxMemoryMb: 32 }));
    expect(error.code).toBe('PARSE_TIMEOUT');
    expect(error.message).toMatch(/grew its heap, past its memory cap of 32 MB/);
    expect(pool.threadCount).toBe(0);
  });

  it('stops a blocked thread whose memory outside the heap grows past the cap', async () => {
    // Buffers live outside the V8 heap, as pdf.js's decoded streams do: the heap limit misses them.
    const pool = new ParsePool({
      threadUrl: fakeThread(`
        const hoard = [];
        const until = Date.now() + 20000;
        while (Date.now() < until && hoard.length < 4096) hoard.push(Buffer.alloc(1024 * 1024, 1));
      `),
    });
    const started = performance.now();
    const error = await failure(pool.parse(anyBytes(), { timeoutMs: 20_000, maxMemoryMb: 64 }));
    expect(error.code).toBe('PARSE_TIMEOUT');
    expect(error.message).toMatch(/grew the process by \d+ MB, past its memory cap of 64 MB/);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('fails a crashing thread with INVALID_DOCUMENT, naming the error', async () => {
    const pool = new ParsePool({ threadUrl: fakeThread("throw new TypeError('pdf.js fell over');") });
    const error = await failure(pool.parse(anyBytes(), limits));
    expect(error.code).toBe('INVALID_DOCUMENT');
    expect(error.message).toContain('TypeError: pdf.js fell over');
  });

  it('fails with INTERNAL when the thread script is missing or cannot start', async () => {
    const missing = new ParsePool({ threadUrl: new URL('file:///nonexistent/parse-thread.js') });
    const error = await failure(missing.parse(anyBytes(), limits));
    expect(error.code).toBe('INTERNAL');
    expect(error.message).toContain('tsc -b');
    const broken = new ParsePool({
      threadUrl: new URL('data:text/javascript,throw new Error("no start")'),
    });
    expect((await failure(broken.parse(anyBytes(), limits))).code).toBe('INTERNAL');
  });

  it('fails parses still running with SHUTTING_DOWN when closed', async () => {
    const pool = new ParsePool({ threadUrl: fakeThread('') });
    const pending = failure(pool.parse(anyBytes(), limits));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await pool.close();
    expect((await pending).code).toBe('SHUTTING_DOWN');
    expect(pool.threadCount).toBe(0);
  });
});
