import { UnrecoverableError, Worker } from 'bullmq';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { uniqueName } from '../../../../test/support/names.js';
import { waitFor } from '../../../../test/support/ports.js';
import { startRedisCutProxy } from '../../../../test/support/redis-cut-proxy.js';
import { contentHash } from '../contract/job-id.js';
import { DocumentLock, LeaseLostError } from './document-lock.js';
import { DocumentQueue, type DocumentQueueHooks } from './document-queue.js';
import { documentKeys, type IndexedRecord } from './document-records.js';
import { createRedisConnection } from './redis-connection.js';

const redisUrl = inject('redisUrl');
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function setup(hooks?: DocumentQueueHooks, role: 'worker' | 'producer' = 'worker', url = redisUrl) {
  const prefix = uniqueName('dq');
  const connection = createRedisConnection({ url, role });
  const documents = new DocumentQueue({ connection, prefix, ...(hooks ? { hooks } : {}) });
  cleanups.push(async () => {
    await documents.queue.obliterate({ force: true });
    const keys = await connection.keys(`${prefix}:*`);
    if (keys.length) await connection.del(...keys);
    await documents.close();
    await connection.quit();
  });
  return { documents, connection, prefix };
}

const version = (text: string, metadata: Record<string, string> = {}) => ({
  collection: 'docs',
  docId: 'guide.md',
  source: 'guide.md',
  text,
  contentHash: contentHash(text),
  metadata,
});

describe('DocumentQueue', () => {
  it('returns the queued job when the same version is submitted again, with nothing in between', async () => {
    const { documents } = setup();
    const first = await documents.ingest(version('# One'));
    const again = await documents.ingest(version('# One'));
    expect(first.deduplicated).toBe(false);
    expect(again).toEqual({ ...first, deduplicated: true });
    expect(await documents.queue.count()).toBe(1);
  });

  it('makes metadata and the pipeline fingerprint part of the version', async () => {
    const { documents } = setup();
    const first = await documents.ingest(version('# One', { team: 'a' }));
    const relabelled = await documents.ingest(version('# One', { team: 'b' }));
    expect(relabelled.deduplicated).toBe(false);
    expect(relabelled.jobId).not.toBe(first.jobId);
    const before = await documents.latest('docs', 'guide.md');
    await documents.publishPipeline('another-fingerprint');
    const rechunked = await documents.ingest(version('# One', { team: 'b' }));
    expect(rechunked.deduplicated).toBe(false);
    expect((await documents.latest('docs', 'guide.md'))?.version).not.toBe(before?.version);
  });

  it('gives a version overtaken by another a new job when it comes back (A → B → A)', async () => {
    const { documents } = setup();
    const a = await documents.ingest(version('A'));
    const b = await documents.ingest(version('B'));
    const aAgain = await documents.ingest(version('A'));
    expect(new Set([a.jobId, b.jobId, aAgain.jobId]).size).toBe(3);
    expect(aAgain.deduplicated).toBe(false);
    expect((await documents.latest('docs', 'guide.md'))?.jobId).toBe(aAgain.jobId);
    await documents.remove({ collection: 'docs', docId: 'guide.md' });
    expect((await documents.latest('docs', 'guide.md'))?.version).toBe('deleted');
    expect(await documents.latest('docs', 'other.md')).toBeUndefined();
  });

  it('records the submission and adds its job in one step: a failure in between leaves neither', async () => {
    // Through a proxy that cuts the producer off right after the submission's HSET reached Redis
    // and before the job's commands, and keeps it off (as if its process had died there). A
    // MULTI/EXEC never executed is discarded; two separate commands would leave the submission
    // recorded with no job.
    const proxy = await startRedisCutProxy(redisUrl);
    cleanups.push(() => proxy.close());
    let cutNext = false;
    // A producer connection, as the API's.
    const { documents, prefix } = setup(
      {
        beforeCommit: async () => {
          if (!cutNext) return;
          cutNext = false;
          proxy.refuseNew(true);
          proxy.cutAfter('HSET');
        },
      },
      'producer',
      proxy.url,
    );
    // Let back in before the clean-up, whatever happens (it runs through the proxy).
    cleanups.push(async () => proxy.refuseNew(false));
    const first = await documents.ingest(version('v1'));
    cutNext = true;
    const cutOff = documents.ingest(version('v2')).then(
      (accepted) => accepted,
      () => undefined,
    );
    // Redis has run everything it received (a lone HSET would be applied by now).
    await proxy.cut();
    expect(proxy.cuts).toBe(1);

    // What Redis holds, read past the proxy: the first submission and its one job, nothing else.
    const direct = createRedisConnection({ url: redisUrl, role: 'producer' });
    cleanups.push(async () => direct.quit());
    const observer = new DocumentQueue({ connection: direct, prefix });
    cleanups.push(() => observer.close());
    expect((await observer.latest('docs', 'guide.md'))?.jobId).toBe(first.jobId);
    expect(await observer.queue.count()).toBe(1);

    // Let back in, the client sends the whole transaction again (or the caller retries): the
    // submission and its job arrive together.
    proxy.refuseNew(false);
    const second =
      (await cutOff) ??
      (await waitFor(() => documents.ingest(version('v2')).catch(() => undefined), { what: 'the retry' }));
    expect((await observer.latest('docs', 'guide.md'))?.jobId).toBe(second.jobId);
    expect(await observer.queue.getJob(second.jobId)).toBeDefined();
    expect(await observer.queue.count()).toBe(2);
  });

  it('answers an indexed version from its own record, re-adding a job the queue no longer keeps', async () => {
    const { documents, connection, prefix } = setup();
    const submitted = await documents.ingest(version('kept'));
    const latest = (await documents.latest('docs', 'guide.md'))!;
    const record: IndexedRecord = {
      version: latest.version,
      contentHash: contentHash('kept'),
      fingerprint: 'unknown',
      jobId: submitted.jobId,
      payload: { ...version('kept') },
      chunks: { 'chk-1': 'digest' },
      indexedAt: Date.now(),
    };
    await connection.hset(documentKeys(prefix).indexed('docs'), 'guide.md', JSON.stringify(record));
    // Retention removed the job; the record still says this version is indexed.
    await (await documents.queue.getJob(submitted.jobId))!.remove();
    const again = await documents.ingest(version('kept'));
    expect(again).toEqual({ ...submitted, deduplicated: true });
    expect(await documents.queue.getJob(submitted.jobId)).toBeDefined();
    expect((await documents.indexedRecords('docs')).get('guide.md')?.version).toBe(latest.version);
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

describe('collection progress', () => {
  it('counts queued, active and ended jobs once each, with a rate and an ETA, and heals jobs gone or ended unrecorded', async () => {
    const { documents } = setup();
    const doc = (docId: string) => ({ ...version(`text of ${docId}`), docId, source: docId });
    const jobs = [];
    for (const docId of ['a.md', 'b.md', 'c.md', 'd.md'])
      jobs.push((await documents.ingest(doc(docId))).jobId);
    // Submitting a version again joins its job: still four.
    await documents.ingest(doc('a.md'));
    expect(await documents.collectionProgress('docs')).toMatchObject({
      queued: 4,
      active: 0,
      completed: 0,
      failed: 0,
      etaSeconds: null,
    });

    // A worker takes one: active.
    const worker = new Worker(documents.queue.name, null, {
      connection: documents.queue.opts.connection,
      prefix: documents.queue.opts.prefix,
    });
    cleanups.push(() => worker.close());
    const taken = await worker.getNextJob('token-1');
    expect((await documents.collectionProgress('docs')).active).toBe(1);
    // It completes, and its end is recorded (twice, as a retried request would: counted once).
    await taken.moveToCompleted({ ok: true }, 'token-1', false);
    await documents.recordEnd('docs', taken.id!, 'completed');
    await documents.recordEnd('docs', taken.id!, 'completed');
    // Another is removed from the queue by hand; its end is never recorded.
    const removed = jobs.find((id) => id !== taken.id)!;
    await documents.queue.remove(removed);
    // Another fails, and its worker dies before recording the end.
    const lost = await worker.getNextJob('token-2');
    await lost.moveToFailed(new UnrecoverableError('NO_TEXT: nothing to index'), 'token-2', false);
    const progress = await documents.collectionProgress('docs');
    expect(progress).toMatchObject({ queued: 1, active: 0, completed: 1, failed: 1 });
    expect(progress.perMinute).toBeGreaterThan(0);
    expect(progress.etaSeconds).toBeGreaterThan(0);
    // Another collection sees none of it.
    expect(await documents.collectionProgress('other')).toMatchObject({ queued: 0, active: 0, completed: 0 });
  });
});

describe('DocumentLock', () => {
  it("admits only the latest submission's job, one attempt at a time, fenced by the attempt's token", async () => {
    const { documents, connection, prefix } = setup();
    const locks = new DocumentLock({ connection, prefix, ttlMs: 3000 });
    const old = await documents.ingest(version('v1'));
    const current = await documents.ingest(version('v2'));
    expect((await locks.acquire('docs', 'guide.md', old.jobId, 'old:1')).state).toBe('superseded');
    const first = await locks.acquire('docs', 'guide.md', current.jobId, 'cur:1');
    expect(first.state).toBe('acquired');
    // A stalled twin of the same job (another attempt) cannot take it, nor can it release it.
    expect((await locks.acquire('docs', 'guide.md', current.jobId, 'cur:2')).state).toBe('locked');
    if (first.state !== 'acquired') throw new Error('unreachable');
    expect(await first.lease.isCurrent()).toBe(true);
    await first.lease.commit(null);
    expect((await locks.acquire('docs', 'guide.md', current.jobId, 'cur:2')).state).toBe('acquired');
  });

  it('loses the lease, and records nothing, once another attempt holds the document', async () => {
    const { documents, connection, prefix } = setup();
    const locks = new DocumentLock({ connection, prefix, ttlMs: 400 });
    const { jobId } = await documents.ingest(version('v1'));
    const held = await locks.acquire('docs', 'guide.md', jobId, 'a:1');
    if (held.state !== 'acquired') throw new Error('not acquired');
    // The lock is taken from under the holder (as after an expiry while it was cut off).
    await connection.set(documentKeys(prefix).lock('docs', 'guide.md'), 'a:2', 'PX', 5000);
    await new Promise((resolve) => held.lease.signal.addEventListener('abort', resolve));
    expect(held.lease.signal.reason).toBeInstanceOf(LeaseLostError);
    await expect(held.lease.commit(null)).rejects.toMatchObject({ code: 'PREEMPTED' });
    expect(await connection.get(documentKeys(prefix).lock('docs', 'guide.md'))).toBe('a:2');
  });

  it('ends the lease before the lock can expire in Redis when renewals stop being confirmed', async () => {
    const { documents, connection: checker, prefix } = setup();
    // The lease ends ttl / 5 (1 s) before the lock expires: room for a loaded machine's timer
    // lateness and the pttl round trip below.
    const ttlMs = 5000;
    const holder = createRedisConnection({ url: redisUrl, role: 'worker' });
    cleanups.push(async () => holder.disconnect());
    const locks = new DocumentLock({ connection: holder, prefix, ttlMs });
    const { jobId } = await documents.ingest(version('v1'));
    const held = await locks.acquire('docs', 'guide.md', jobId, 'a:1');
    if (held.state !== 'acquired') throw new Error('not acquired');
    // The holder is cut off from Redis: its renewals stop being confirmed.
    holder.disconnect(false);
    const remainingAtLoss = await new Promise<number>((resolve) =>
      held.lease.signal.addEventListener('abort', () =>
        resolve(checker.pttl(documentKeys(prefix).lock('docs', 'guide.md'))),
      ),
    );
    // When the holder stops, the lock is still in Redis: nobody else can have taken over yet.
    expect(held.lease.signal.reason).toBeInstanceOf(LeaseLostError);
    expect(remainingAtLoss).toBeGreaterThan(0);
  });
});
