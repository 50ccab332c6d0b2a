import { afterEach, describe, expect, inject, it } from 'vitest';
import { uniqueName } from '../../../../test/support/names.js';
import { contentHash } from '../contract/job-id.js';
import { DocumentQueue } from './document-queue.js';
import { DocumentLock } from './document-lock.js';
import { createRedisConnection } from './redis-connection.js';

const redisUrl = inject('redisUrl');
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function setup() {
  const prefix = uniqueName('dq');
  const connection = createRedisConnection({ url: redisUrl, role: 'worker' });
  const documents = new DocumentQueue({ connection, prefix });
  cleanups.push(async () => {
    await documents.queue.obliterate({ force: true });
    await documents.close();
    await connection.quit();
  });
  return { documents, connection, prefix };
}

const version = (text: string) => ({
  collection: 'docs',
  docId: 'guide.md',
  source: 'guide.md',
  text,
  contentHash: contentHash(text),
});

describe('DocumentQueue', () => {
  it('returns the queued job when the same version is submitted again', async () => {
    const { documents } = setup();
    const first = await documents.ingest(version('# One'));
    const again = await documents.ingest(version('# One'));
    expect(first.deduplicated).toBe(false);
    expect(again).toEqual({ ...first, deduplicated: true });
    expect(await documents.queue.count()).toBe(1);
  });

  it('records submissions in order; the latest is what the document should end as', async () => {
    const { documents } = setup();
    await documents.ingest(version('v1'));
    await documents.ingest(version('v2'));
    expect((await documents.latest('docs', 'guide.md'))?.version).toBe(contentHash('v2'));
    await documents.remove({ collection: 'docs', docId: 'guide.md' });
    expect((await documents.latest('docs', 'guide.md'))?.version).toBe('deleted');
    expect(await documents.latest('docs', 'other.md')).toBeUndefined();
  });

  it('runs a completed version again when another version was submitted after it', async () => {
    const { documents } = setup();
    const v1 = await documents.ingest(version('v1'));
    const job = (await documents.queue.getJob(v1.jobId))!;
    // Complete it the way a worker would: take it, then finish it under the lock token.
    const { Worker } = await import('bullmq');
    const worker = new Worker(documents.queue.name, null, {
      connection: documents.queue.opts.connection,
      prefix: documents.queue.opts.prefix,
    });
    const taken = await worker.getNextJob('token-1');
    expect(taken.id).toBe(job.id);
    await taken.moveToCompleted(
      { docId: 'guide.md', chunks: 1, embedded: 1, skipped: 0, deleted: 0 },
      'token-1',
      false,
    );
    await worker.close();
    await documents.ingest(version('v2'));
    const again = await documents.ingest(version('v1'));
    expect(again.jobId).toBe(v1.jobId);
    expect(again.deduplicated).toBe(false);
    expect(await (await documents.queue.getJob(v1.jobId))!.getState()).toBe('waiting');
  });

  it('rejects a bad request before recording anything, naming the field', async () => {
    const { documents } = setup();
    await expect(documents.ingest({ ...version('x'), collection: 'a' })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      details: { field: 'collection' },
    });
    await expect(documents.ingest({ ...version('x'), metadata: { docId: 'spoof' } })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      details: { field: 'metadata.docId' },
    });
    expect(await documents.latest('a', 'guide.md')).toBeUndefined();
  });

  it('reports status with the SPEC fields', async () => {
    const { documents } = setup();
    const { jobId } = await documents.ingest(version('status'));
    expect(await documents.status(jobId)).toMatchObject({
      jobId,
      state: 'waiting',
      attempts: 0,
      progress: 0,
    });
    expect(await documents.status('ing-nope')).toBeUndefined();
  });
});

describe('DocumentLock', () => {
  it('admits one job per document, lets the same job back in, and frees on release', async () => {
    const { connection, prefix } = setup();
    const locks = new DocumentLock({ connection, prefix, ttlMs: 3000 });
    const a = await locks.acquire('docs', 'guide.md', 'job-a');
    expect(a?.held).toBe(true);
    expect(await locks.acquire('docs', 'guide.md', 'job-b')).toBeUndefined();
    expect(await locks.acquire('docs', 'other.md', 'job-b')).toBeDefined();
    // The same job, resumed elsewhere after a crash, takes its lock back.
    expect(await locks.acquire('docs', 'guide.md', 'job-a')).toBeDefined();
    await a!.release();
    expect(await locks.acquire('docs', 'guide.md', 'job-b')).toBeDefined();
  });

  it('expires when its holder stops renewing', async () => {
    const { connection, prefix } = setup();
    const locks = new DocumentLock({ connection, prefix, ttlMs: 300 });
    const a = await locks.acquire('docs', 'guide.md', 'job-a');
    await a!.release();
    await connection.set(
      `${prefix}:ingest:doc-lock:docs:${Buffer.from('guide.md').toString('base64url')}`,
      'dead',
      'PX',
      300,
    );
    expect(await locks.acquire('docs', 'guide.md', 'job-b')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 400));
    expect(await locks.acquire('docs', 'guide.md', 'job-b')).toBeDefined();
  });
});
