import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { contentHash } from '@sluice/core';
import { JobFailedError, SluiceClient, SluiceError } from '@sluice/sdk';
import { corpusPath } from '../support/documents.js';
import { startStack, type TestStack } from '../support/stack.js';

const redisUrl = inject('redisUrl');
const chromaUrl = inject('chromaUrl');

const MARKDOWN = corpusPath('markdown/ru/docs/tutorials/hello-minikube.md');
const PDF = corpusPath('pdf/good/pdflatex-4-pages.pdf');
const ENCRYPTED = corpusPath('pdf/hostile/libreoffice-writer-password.pdf');

let stack: TestStack;
let sluice: SluiceClient;
const collection = (label: string) => stack.collection(label);

beforeAll(async () => {
  stack = await startStack({ label: 'sdk-redis', redis: redisUrl, chroma: chromaUrl });
  await stack.startWorker();
  sluice = new SluiceClient({ redisUrl, prefix: stack.prefix, storageDir: stack.storageDir });
});

afterAll(async () => {
  await sluice?.close();
  await stack?.stop();
});

/** Expects `promise` to reject with a SluiceError of `code`, and returns it. */
async function rejection(promise: Promise<unknown>, code: string): Promise<SluiceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  expect((err as SluiceError).code).toBe(code);
  return err as SluiceError;
}

describe('SluiceClient in Redis mode, with a real worker', () => {
  it('ingests a Markdown file and a PDF through the shared storage dir and waits for their results', async () => {
    const docs = collection('redis-ingest');
    const [md, pdf] = await Promise.all([
      sluice.ingest({ collection: docs, file: MARKDOWN, metadata: { team: 'docs' } }),
      sluice.ingest({ collection: docs, docId: 'papers/four-pages.pdf', file: PDF }),
    ]);
    expect(md).toMatchObject({ docId: 'hello-minikube.md', deduplicated: false });
    expect(md.contentHash).toBe(contentHash(await readFile(MARKDOWN)));
    expect(pdf.docId).toBe('papers/four-pages.pdf');
    // Content-addressed copies, where the worker reads uploads.
    expect((await readdir(stack.storageDir)).sort()).toEqual([md.contentHash, pdf.contentHash].sort());

    const [mdResult, pdfResult] = await Promise.all([
      sluice.wait(md.jobId, { timeoutMs: 20_000 }),
      sluice.wait(pdf.jobId, { timeoutMs: 20_000 }),
    ]);
    expect(mdResult.chunks).toBeGreaterThan(0);
    expect(mdResult.embedded).toBe(mdResult.chunks);
    expect(pdfResult.chunks).toBeGreaterThan(0);
    expect(pdfResult.pages).toBe(4);

    const status = await sluice.status(pdf.jobId);
    expect(status).toMatchObject({ jobId: pdf.jobId, state: 'completed', result: pdfResult });
  });

  it('answers the existing job, deduplicated, when the same file is ingested again', async () => {
    const docs = collection('redis-dedup');
    const first = await sluice.ingest({ collection: docs, file: MARKDOWN });
    const result = await sluice.wait(first.jobId, { timeoutMs: 20_000 });
    const again = await sluice.ingest({ collection: docs, file: MARKDOWN });
    expect(again).toEqual({ ...first, deduplicated: true });
    // Waiting on a finished job answers at once, with the same result.
    expect(await sluice.wait(again.jobId, { timeoutMs: 2_000 })).toEqual(result);
  });

  it("throws the job's own code when the job fails: an encrypted PDF is ENCRYPTED_DOCUMENT", async () => {
    const docs = collection('redis-hostile');
    const job = await sluice.ingest({ collection: docs, file: ENCRYPTED });
    const err = await rejection(sluice.wait(job.jobId, { timeoutMs: 20_000 }), 'ENCRYPTED_DOCUMENT');
    expect(err).toBeInstanceOf(JobFailedError);
    expect((err as JobFailedError).jobId).toBe(job.jobId);
    expect((await sluice.status(job.jobId)).error?.code).toBe('ENCRYPTED_DOCUMENT');
  });

  it('removes a document: the delete job reports its chunks deleted', async () => {
    const docs = collection('redis-remove');
    const job = await sluice.ingest({
      collection: docs,
      docId: 'note',
      text: '# Note\n\nSome text to index.',
    });
    const { chunks } = await sluice.wait(job.jobId, { timeoutMs: 20_000 });
    const removal = await sluice.remove({ collection: docs, docId: 'note' });
    expect((await sluice.wait(removal.jobId, { timeoutMs: 20_000 })).deleted).toBe(chunks);
  });

  it('rejects bad input before anything is sent or copied', async () => {
    const before = await stack.jobCount();
    const stored = await readdir(stack.storageDir);
    const docs = collection('redis-invalid');
    const cases: [() => Promise<unknown>, string, string][] = [
      [() => sluice.ingest({ collection: 'x', file: MARKDOWN }), 'INVALID_REQUEST', 'collection'],
      [
        () => sluice.ingest({ collection: docs, file: MARKDOWN, metadata: { page: 3 } }),
        'INVALID_REQUEST',
        'metadata.page',
      ],
      [() => sluice.ingest({ collection: docs, file: MARKDOWN, docId: '' }), 'INVALID_REQUEST', 'docId'],
      [
        () => sluice.ingest({ collection: docs, file: corpusPath('README.md'), fileName: 'a.xlsx' }),
        'UNSUPPORTED_TYPE',
        'file',
      ],
      [() => sluice.ingest({ collection: docs, file: '/nonexistent/file.md' }), 'INVALID_REQUEST', 'file'],
      [() => sluice.ingest({ collection: docs, text: 'no id' }), 'INVALID_REQUEST', 'docId'],
      // Both a file and a text: the types forbid it, the runtime check too.
      [
        () => sluice.ingest({ collection: docs, docId: 'd', file: MARKDOWN, text: 'x' } as never),
        'INVALID_REQUEST',
        'file',
      ],
      [() => sluice.remove({ collection: docs, docId: 'a\u0000b' }), 'INVALID_REQUEST', 'docId'],
    ];
    for (const [call, code, field] of cases) {
      const err = await rejection(call(), code);
      expect(err.details.field).toBe(field);
    }
    expect(await stack.jobCount()).toBe(before);
    expect(await readdir(stack.storageDir)).toEqual(stored);
  });

  it('without storageDir sends small texts inside the job, and refuses files with a clear error', async () => {
    const docs = collection('redis-inline');
    const inline = new SluiceClient({ redisUrl, prefix: stack.prefix });
    try {
      const job = await inline.ingest({
        collection: docs,
        docId: 'guide',
        fileName: 'guide.md',
        text: '# Guide\n\n## Install\n\nRun the installer.\n',
      });
      expect((await inline.wait(job.jobId, { timeoutMs: 20_000 })).chunks).toBeGreaterThan(0);
      const bytes = new TextEncoder().encode('plain bytes that are UTF-8 text');
      const fromBytes = await inline.ingest({ collection: docs, docId: 'bytes', bytes });
      expect(fromBytes.contentHash).toBe(contentHash(bytes));
      await inline.wait(fromBytes.jobId, { timeoutMs: 20_000 });

      const err = await rejection(inline.ingest({ collection: docs, file: MARKDOWN }), 'INVALID_REQUEST');
      expect(err.details.field).toBe('storageDir');
      expect(err.message).toMatch(/storageDir/);
      await rejection(inline.query({ collection: docs, text: 'install' }), 'INVALID_REQUEST');
    } finally {
      await inline.close();
    }
  });
});

describe('SluiceClient.wait in Redis mode', () => {
  // A prefix no worker serves: jobs stay waiting for as long as a test needs.
  let idleStack: TestStack;
  let idle: SluiceClient;
  beforeAll(async () => {
    idleStack = await startStack({ label: 'sdk-idle', redis: redisUrl, chroma: chromaUrl });
    idle = new SluiceClient({ redisUrl, prefix: idleStack.prefix, storageDir: idleStack.storageDir });
  });
  afterAll(async () => {
    await idle?.close();
    await idleStack?.stop();
  });

  it('gives up after timeoutMs with TIMEOUT; the job stays queued', async () => {
    const job = await idle.ingest({ collection: collection('idle'), docId: 't', text: 'waiting' });
    const started = Date.now();
    const err = await rejection(idle.wait(job.jobId, { timeoutMs: 300 }), 'TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(err.message).toContain(job.jobId);
    expect((await idle.status(job.jobId)).state).toBe('waiting');
  });

  it("stops when the caller's signal aborts, with the signal's reason", async () => {
    const job = await idle.ingest({ collection: collection('idle'), docId: 'a', text: 'waiting too' });
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    setTimeout(() => controller.abort(reason), 100);
    await expect(idle.wait(job.jobId, { signal: controller.signal })).rejects.toBe(reason);
    // An already aborted signal rejects at once.
    await expect(idle.wait(job.jobId, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it('follows a job that finishes after the wait began (its completion event, no polling)', async () => {
    const docs = collection('idle-late');
    const job = await idle.ingest({
      collection: docs,
      docId: 'late',
      text: '# Late\n\nIndexed once a worker comes.',
    });
    // Long enough for a worker's start-up on a loaded machine: this is about the event, not speed.
    const waiting = idle.wait(job.jobId, { timeoutMs: 60_000 });
    // A worker for the idle prefix arrives only now, and leaves with the test: the next one needs
    // its jobs to stay waiting again.
    const late = await idleStack.startWorker();
    try {
      const result = await waiting;
      expect(result.chunks).toBeGreaterThan(0);
    } finally {
      await late.stop();
    }
  });

  it('answers NOT_FOUND for a job that does not exist, and SHUTTING_DOWN to waits pending at close', async () => {
    await rejection(idle.status('ing-0000'), 'NOT_FOUND');
    await rejection(idle.wait('ing-0000', { timeoutMs: 2000 }), 'NOT_FOUND');
    const other = new SluiceClient({ redisUrl, prefix: idleStack.prefix });
    const job = await other.ingest({ collection: collection('idle'), docId: 'c', text: 'closing' });
    const waiting = rejection(other.wait(job.jobId), 'SHUTTING_DOWN');
    await new Promise((r) => setTimeout(r, 100));
    await other.close();
    await waiting;
  });
});
