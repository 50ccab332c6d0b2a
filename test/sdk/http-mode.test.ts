import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { contentHash } from '@sluice/core';
import { ApiError, JobFailedError, SluiceClient, SluiceError, createToken } from '@sluice/sdk';
import { corpusPath } from '../support/documents.js';
import { TEST_SECRET, startStack, type TestStack } from '../support/stack.js';

const redisUrl = inject('redisUrl');
const chromaUrl = inject('chromaUrl');

const PDF = corpusPath('pdf/good/pdflatex-4-pages.pdf');
const ENCRYPTED = corpusPath('pdf/hostile/libreoffice-writer-password.pdf');
const MARKDOWN = corpusPath('markdown/ru/docs/tutorials/hello-minikube.md');

async function failure(promise: Promise<unknown>): Promise<SluiceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  return err as SluiceError;
}

describe('SluiceClient in HTTP mode, with the real API and worker', () => {
  let stack: TestStack;
  let apiUrl: string;
  let sluice: SluiceClient;
  const collection = (label: string) => stack.collection(label);

  beforeAll(async () => {
    stack = await startStack({ label: 'sdk-http', redis: redisUrl, chroma: chromaUrl });
    const [api] = await Promise.all([stack.startApi(), stack.startWorker()]);
    apiUrl = api.url;
    sluice = new SluiceClient({
      apiUrl,
      token: await createToken({ secret: TEST_SECRET, collections: '*' }),
    });
  });
  afterAll(async () => {
    await sluice?.close();
    await stack?.stop();
  });

  it('uploads a PDF, waits, finds it by query with its page, lists it; the same upload again is deduplicated', async () => {
    const docs = collection('http-pdf');
    const job = await sluice.ingest({ collection: docs, file: PDF, metadata: { team: 'research' } });
    expect(job).toMatchObject({ docId: 'pdflatex-4-pages.pdf', deduplicated: false });
    expect(job.contentHash).toBe(contentHash(await readFile(PDF)));
    const result = await sluice.wait(job.jobId, { timeoutMs: 20_000 });
    expect(result).toMatchObject({ docId: 'pdflatex-4-pages.pdf', pages: 4 });
    expect(result.chunks).toBeGreaterThan(0);

    const again = await sluice.ingest({ collection: docs, file: PDF, metadata: { team: 'research' } });
    expect(again).toEqual({ ...job, deduplicated: true });

    const { matches } = await sluice.query({ collection: docs, text: 'Lorem ipsum dolor sit amet', k: 3 });
    expect(matches.length).toBeGreaterThan(0);
    expect(matches[0]?.docId).toBe('pdflatex-4-pages.pdf');
    expect(matches[0]?.metadata.team).toBe('research');
    expect(matches[0]?.page).toBeGreaterThanOrEqual(1);

    const { documents } = await sluice.list({ collection: docs });
    expect(documents).toEqual([
      {
        docId: 'pdflatex-4-pages.pdf',
        contentHash: job.contentHash,
        chunks: result.chunks,
        metadata: { team: 'research' },
      },
    ]);
  });

  it('sends text as JSON, text over the inline limit and bytes as uploads, and removes a document', async () => {
    const docs = collection('http-text');
    const small = await sluice.ingest({
      collection: docs,
      docId: 'notes/small',
      fileName: 'small.md',
      text: '# Small\n\nA note.',
    });
    const big = '## Section\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit.\n\n'.repeat(4000);
    expect(Buffer.byteLength(big)).toBeGreaterThan(256 * 1024);
    const large = await sluice.ingest({
      collection: docs,
      docId: 'notes/large',
      fileName: 'large.md',
      text: big,
    });
    const bytes = await sluice.ingest({
      collection: docs,
      docId: 'md-bytes',
      fileName: 'hello.md',
      bytes: await readFile(MARKDOWN),
    });
    const results = await Promise.all(
      [small, large, bytes].map((j) => sluice.wait(j.jobId, { timeoutMs: 30_000 })),
    );
    for (const r of results) expect(r.chunks).toBeGreaterThan(0);
    expect(large.contentHash).toBe(contentHash(big));

    const removal = await sluice.remove({ collection: docs, docId: 'notes/small' });
    expect((await sluice.wait(removal.jobId, { timeoutMs: 20_000 })).deleted).toBe(results[0]!.chunks);
    const listed = (await sluice.list({ collection: docs })).documents.map((d) => d.docId).sort();
    expect(listed).toEqual(['md-bytes', 'notes/large']);
  });

  it("throws the job's code for an encrypted PDF, and the API's code for bytes it refuses", async () => {
    const docs = collection('http-bad');
    const job = await sluice.ingest({ collection: docs, file: ENCRYPTED });
    const err = await failure(sluice.wait(job.jobId, { timeoutMs: 20_000 }));
    expect(err).toBeInstanceOf(JobFailedError);
    expect(err.code).toBe('ENCRYPTED_DOCUMENT');

    // A PNG named .txt: the SDK cannot tell, the API sniffs the bytes.
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
    const refused = await failure(
      sluice.ingest({ collection: docs, docId: 'image', fileName: 'image.txt', bytes: png }),
    );
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ code: 'UNSUPPORTED_TYPE', httpStatus: 415 });

    expect(await failure(sluice.status('ing-does-not-exist'))).toMatchObject({
      code: 'NOT_FOUND',
      httpStatus: 404,
    });
  });

  it('carries 401 and 403 from the API without retrying them', async () => {
    const docs = collection('http-auth');
    const retries: unknown[] = [];
    const onRetry = (info: unknown) => retries.push(info);
    const anonymous = new SluiceClient({ apiUrl, token: 'not-a-jwt', onRetry });
    const elsewhere = new SluiceClient({
      apiUrl,
      token: await createToken({ secret: TEST_SECRET, collections: ['other-collection'] }),
      onRetry,
    });
    expect(await failure(anonymous.ingest({ collection: docs, docId: 'x', text: 'hello' }))).toMatchObject({
      code: 'UNAUTHENTICATED',
      httpStatus: 401,
    });
    expect(await failure(elsewhere.ingest({ collection: docs, docId: 'x', text: 'hello' }))).toMatchObject({
      code: 'FORBIDDEN',
      httpStatus: 403,
    });
    expect(retries).toEqual([]);
  });
});
