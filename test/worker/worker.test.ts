import { readdir } from 'node:fs/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type JobStatus } from '@sluice/core';
import { DocumentQueue, createRedisConnection, type IngestRequest } from '@sluice/core/queue';
import { ChromaStore, DocumentPlanner, HashEmbedder, ParsePool } from '@sluice/ingest';
import { DirectoryUploadStore } from '@sluice/storage';
import { corpusPath, stageFile } from '../support/documents.js';
import { HOSTILE_DOCX, HOSTILE_HTML } from '../support/hostile-documents.js';
import { HOSTILE_PDFS } from '../support/hostile-pdfs.js';
import { waitFor } from '../support/ports.js';
import { startStack, type TestStack } from '../support/stack.js';

const redisUrl = inject('redisUrl');
const chromaUrl = inject('chromaUrl');

const connection = createRedisConnection({ url: redisUrl, role: 'worker' });
const store = new ChromaStore({ url: chromaUrl, dimensions: 384 });
afterAll(() => {
  connection.disconnect();
});

/** Each test's own world: prefix, storage dir and collections, removed at its end. */
function startWorld(label: string): Promise<TestStack> {
  return startStack({ label, redis: redisUrl, chroma: chromaUrl });
}

function documentsFor(stack: TestStack) {
  return new DocumentQueue({ connection, prefix: stack.prefix });
}

async function finished(documents: DocumentQueue, jobId: string, timeoutMs = 120_000): Promise<JobStatus> {
  return waitFor(
    async () => {
      const s = await documents.status(jobId);
      return s && (s.state === 'completed' || s.state === 'failed') ? s : undefined;
    },
    { timeoutMs, intervalMs: 200, what: `job ${jobId}` },
  );
}

async function chunksOf(collection: string, docId: string) {
  const handle = await store.collection(collection);
  const got = await handle.get({ where: { docId }, include: ['metadatas'] });
  return got.ids.map((id, i) => ({ id, metadata: got.metadatas[i] ?? {} }));
}

const parsePool = new ParsePool();
afterAll(() => parsePool.close());
const expectedPipeline = (storageDir: string) =>
  new DocumentPlanner({
    embedder: new HashEmbedder(),
    parsePool,
    uploads: new DirectoryUploadStore(storageDir),
    split: { chunkSize: 1000, chunkOverlap: 200 },
  });

async function expectedIds(storageDir: string, request: IngestRequest): Promise<Set<string>> {
  const plan = await expectedPipeline(storageDir).plan({ metadata: {}, ...request });
  return new Set(plan.chunks.map((c) => c.id));
}

describe('the worker process', () => {
  it(
    'ingests the good PDFs and Markdown, ends every hostile PDF in its code, and keeps going',
    { timeout: 300_000 },
    async () => {
      await using stack = await startWorld('wk');
      const { storageDir } = stack;
      const collection = stack.collection('corpus');
      const documents = documentsFor(stack);
      const worker = await stack.startWorker({
        WORKER_CONCURRENCY: '2',
        // issue-1688a.pdf needs ~3.3 s of CPU to end NO_TEXT; 20 s leaves room for a loaded machine.
        PARSE_TIMEOUT_MS: '20000',
        PARSE_MAX_MEMORY_MB: '512',
      });

      // Hostile files first, so that the good ones queue behind them.
      const hostile = new Map<string, string>();
      for (const [file] of HOSTILE_PDFS) {
        const request = await stageFile(storageDir, corpusPath(`pdf/hostile/${file}`), {
          collection,
          docId: `hostile/${file}`,
        });
        hostile.set(file, (await documents.ingest(request)).jobId);
      }
      const goodFiles = (await readdir(corpusPath('pdf/good'))).filter((f) => f.endsWith('.pdf'));
      const good = new Map<string, { jobId: string; request: IngestRequest }>();
      for (const file of goodFiles) {
        const request = await stageFile(storageDir, corpusPath(`pdf/good/${file}`), {
          collection,
          docId: `good/${file}`,
        });
        good.set(file, { jobId: (await documents.ingest(request)).jobId, request });
      }
      const markdownFiles = (await readdir(corpusPath('markdown/en/docs/concepts/workloads/pods'))).filter(
        (f) => f.endsWith('.md'),
      );
      const markdown = new Map<string, string>();
      for (const file of markdownFiles) {
        const request = await stageFile(
          storageDir,
          corpusPath(`markdown/en/docs/concepts/workloads/pods/${file}`),
          {
            collection,
            docId: `md/${file}`,
          },
        );
        markdown.set(file, (await documents.ingest(request)).jobId);
      }

      for (const [file, expected, reason] of HOSTILE_PDFS) {
        const status = await finished(documents, hostile.get(file)!);
        if (expected === 'ok') expect(status.state, `${file}: ${reason}`).toBe('completed');
        else expect(status.error?.code, `${file}: ${reason}: ${JSON.stringify(status)}`).toBe(expected);
        // A failed document never spends more than its one attempt.
        if (expected !== 'ok') expect(status.attempts, file).toBe(1);
      }
      // The worker survived the bomb and the rest.
      expect((await fetch(worker.healthUrl)).status).toBe(200);
      expect(worker.child.exitCode).toBeNull();

      for (const [file, { jobId, request }] of good) {
        const status = await finished(documents, jobId);
        expect(status.state, file).toBe('completed');
        expect(status.result, `${file}: ${JSON.stringify(status)}`).toBeDefined();
        expect(status.result!.chunks, file).toBeGreaterThan(0);
        expect(status.result!.pages, file).toBeGreaterThan(0);
        const chunks = await chunksOf(collection, `good/${file}`);
        expect(new Set(chunks.map((c) => c.id)), file).toEqual(await expectedIds(storageDir, request));
        for (const chunk of chunks) expect(chunk.metadata.page, file).toBeGreaterThanOrEqual(1);
      }
      for (const [file, jobId] of markdown) {
        const status = await finished(documents, jobId);
        expect(status.state, file).toBe('completed');
        const chunks = await chunksOf(collection, `md/${file}`);
        expect(chunks.length, file).toBe(status.result!.chunks);
        // Every page here starts with front matter and a heading; most chunks sit under one.
        const withHeading = chunks.filter(
          (c) => typeof c.metadata.headingPath === 'string' && c.metadata.headingPath !== '',
        );
        expect(withHeading.length, file).toBeGreaterThan(0);
        expect(
          chunks.every((c) => typeof c.metadata.lineStart === 'number'),
          file,
        ).toBe(true);
      }
      await documents.close();
    },
  );

  it(
    'ingests the DOCX and HTML corpus, ends every hostile DOCX and HTML file in its code, and keeps going',
    { timeout: 300_000 },
    async () => {
      await using stack = await startWorld('wk-formats');
      const collection = stack.collection('formats');
      const documents = documentsFor(stack);
      const worker = await stack.startWorker({ WORKER_CONCURRENCY: '2' });
      const submit = async (dir: string) => {
        const jobs = new Map<string, { jobId: string; request: IngestRequest }>();
        for (const file of (await readdir(corpusPath(dir))).sort()) {
          const request = await stageFile(stack.storageDir, corpusPath(`${dir}/${file}`), {
            collection,
            docId: `${dir}/${file}`,
          });
          jobs.set(file, { jobId: (await documents.ingest(request)).jobId, request });
        }
        return jobs;
      };
      // The hostile files first (the bombs among them), so that the good ones queue behind them.
      const hostileDocx = await submit('docx/hostile');
      const hostileHtml = await submit('html/hostile');
      const good = new Map([
        ...[...(await submit('docx/good'))].map(([file, job]) => [`docx/good/${file}`, job] as const),
        ...[...(await submit('html/good'))].map(([file, job]) => [`html/good/${file}`, job] as const),
        ...[...(await submit('html/odd'))].map(([file, job]) => [`html/odd/${file}`, job] as const),
      ]);

      expect([...hostileDocx.keys()].sort()).toEqual(Object.keys(HOSTILE_DOCX).sort());
      for (const [file, { jobId }] of hostileDocx) {
        const status = await finished(documents, jobId);
        expect(status.error?.code, `${file}: ${JSON.stringify(status)}`).toBe(HOSTILE_DOCX[file]);
        expect(status.attempts, file).toBe(1);
      }
      expect([...hostileHtml.keys()].sort()).toEqual(Object.keys(HOSTILE_HTML).sort());
      for (const [file, { jobId }] of hostileHtml) {
        const status = await finished(documents, jobId);
        expect(status.error?.code, `${file}: ${JSON.stringify(status)}`).toBe(HOSTILE_HTML[file]);
      }
      expect((await fetch(worker.healthUrl)).status).toBe(200);
      expect(worker.child.exitCode).toBeNull();

      for (const [docId, { jobId, request }] of good) {
        const status = await finished(documents, jobId);
        expect(status.state, `${docId}: ${JSON.stringify(status)}`).toBe('completed');
        const chunks = await chunksOf(collection, request.docId);
        expect(chunks.length, docId).toBeGreaterThan(0);
        // Exactly the chunks a clean in-process run plans, and nothing else.
        expect(new Set(chunks.map((c) => c.id)), docId).toEqual(await expectedIds(stack.storageDir, request));
      }
      await documents.close();
    },
  );

  it(
    'SIGKILLed mid-document: after recovery the stored chunks are exactly a clean run’s',
    { timeout: 120_000 },
    async () => {
      await using stack = await startWorld('kill');
      const collection = stack.collection('kill');
      const documents = documentsFor(stack);
      const fastRecovery = { LOCK_DURATION_MS: '2000', STALLED_INTERVAL_MS: '500' };
      const victim = await stack.startWorker(fastRecovery);
      const request = await stageFile(stack.storageDir, corpusPath('pdf/good/freeculture.pdf'), {
        collection,
      });
      const expected = await expectedIds(stack.storageDir, request);
      const { jobId } = await documents.ingest(request);
      await waitFor(
        async () => {
          const progress = (await documents.status(jobId))?.progress as
            { chunksWritten?: number } | undefined;
          return (progress?.chunksWritten ?? 0) > 0;
        },
        { timeoutMs: 60_000, intervalMs: 20, what: 'the first batch' },
      );
      victim.signal('SIGKILL');
      await victim.exited;
      const storedAtKill = (await store.storedChunks(collection, request.docId)).size;
      expect(storedAtKill).toBeLessThan(expected.size);

      await stack.startWorker(fastRecovery);
      const status = await finished(documents, jobId);
      expect(status.state).toBe('completed');
      expect(new Set((await store.storedChunks(collection, request.docId)).keys())).toEqual(expected);
      // The resumed run skipped what the killed one had stored; at most its last batch was redone.
      expect(status.result!.skipped).toBeGreaterThanOrEqual(storedAtKill);
      expect(status.result!.embedded).toBe(expected.size - status.result!.skipped);
      await documents.close();
    },
  );
});
