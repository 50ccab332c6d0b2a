import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { contentHash, type JobStatus } from '@sluice/core';
import { SluiceClient } from '@sluice/sdk';
import { ChromaStore } from '@sluice/ingest';
import { corpusPath } from '../support/documents.js';
import { GatedProxy, isChromaWrite } from '../support/gated-proxy.js';
import { mintToken, startStack, type ApiProcess, type TestStack } from '../support/stack.js';
import { TestClient, type JobAnswer } from './api-client.js';

const PDF = corpusPath('pdf/good/bitcoin.pdf');

interface Match {
  id: string;
  text: string;
  score: number;
  docId: string;
  page?: number;
  source: string;
  metadata: Record<string, unknown>;
}

/** The `event:`/`data:` frames of a server-sent event stream. */
function eventsOf(body: string): { event: string; data: JobStatus }[] {
  return body
    .split('\n\n')
    .filter((frame) => frame.startsWith('event: '))
    .map((frame) => {
      const [eventLine, dataLine] = frame.split('\n');
      return {
        event: eventLine!.slice('event: '.length),
        data: JSON.parse(dataLine!.slice('data: '.length)) as JobStatus,
      };
    });
}

/** Chunks written so far, from a job's progress. */
function writtenOf(job: JobStatus): number {
  return typeof job.progress === 'object' ? Number(job.progress.chunksWritten ?? 0) : 0;
}

/** Reads a streamed body to its end, calling `onText` with all of it so far after every chunk. */
async function readStream(response: Response, onText: (text: string) => void): Promise<string> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text;
    text += decoder.decode(value, { stream: true });
    onText(text);
  }
}

describe('the API end to end, with a real worker process', () => {
  let stack: TestStack;
  let client: TestClient;
  let api: ApiProcess;
  let collection: string;

  beforeAll(async () => {
    stack = await startStack({ label: 'api-e2e', redis: inject('redisUrl'), chroma: inject('chromaUrl') });
    collection = stack.collection('e2e');
    [api] = await Promise.all([stack.startApi(), stack.startWorker({ WORKER_CONCURRENCY: '2' })]);
    client = new TestClient(api.url, mintToken({ collections: [collection] }));
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('uploads a PDF, indexes it, finds it with its page, deduplicates it, lists it and deletes it', async () => {
    const bytes = await readFile(PDF);
    const sha = contentHash(bytes);

    // Upload → 202 with the deterministic job.
    const started = performance.now();
    const first = await client.upload(collection, PDF, {
      metadata: JSON.stringify({ team: 'research', year: 2008 }),
    });
    const uploadMs = performance.now() - started;
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ docId: 'bitcoin.pdf', contentHash: sha, deduplicated: false });
    const jobId = first.body.jobId as string;

    // The job completes on the worker.
    const done = await client.waitForJob(jobId);
    expect(done.state).toBe('completed');
    expect(done.result).toMatchObject({
      docId: 'bitcoin.pdf',
      contentHash: sha,
      pages: 9,
      skipped: 0,
      deleted: 0,
    });
    const chunks = done.result!.chunks;
    expect(chunks).toBeGreaterThan(5);
    expect(done.result!.embedded).toBe(chunks);

    // A query finds it, with its page, its source and only the caller's metadata.
    const query = await client.request<{ matches: Match[] }>('POST', `/v1/collections/${collection}/query`, {
      body: { text: 'proof-of-work chain double-spending timestamp server', k: 3 },
    });
    expect(query.status).toBe(200);
    expect(query.body.matches).toHaveLength(3);
    const best = query.body.matches[0]!;
    expect(best).toMatchObject({
      docId: 'bitcoin.pdf',
      source: 'bitcoin.pdf',
      metadata: { team: 'research', year: 2008 },
    });
    expect(best.page).toEqual(expect.any(Number));
    expect(best.page).toBeGreaterThanOrEqual(1);
    expect(best.page).toBeLessThanOrEqual(9);
    expect(best.text.length).toBeGreaterThan(50);
    expect(Object.keys(best.metadata).sort()).toEqual(['team', 'year']);

    // The same bytes again: the same job, deduplicated, nothing new to do.
    const again = await client.upload(collection, PDF, {
      metadata: JSON.stringify({ team: 'research', year: 2008 }),
    });
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ jobId, docId: 'bitcoin.pdf', contentHash: sha, deduplicated: true });
    const afterAgain = await client.request<JobAnswer>('GET', `/v1/jobs/${jobId}`);
    expect(afterAgain.body.result).toEqual(done.result);
    expect(await stack.queue.getJobCounts('waiting', 'active', 'delayed', 'completed')).toEqual({
      waiting: 0,
      active: 0,
      delayed: 0,
      completed: 1,
    });

    // The list shows the document, its indexed version and its chunk count.
    const list = await client.request('GET', `/v1/collections/${collection}/documents`);
    expect(list.status).toBe(200);
    expect(list.body).toEqual({
      documents: [
        { docId: 'bitcoin.pdf', contentHash: sha, chunks, metadata: { team: 'research', year: 2008 } },
      ],
    });

    // Delete: the job completes and the chunks are gone.
    const removal = await client.request('DELETE', `/v1/collections/${collection}/documents/bitcoin.pdf`);
    expect(removal.status).toBe(202);
    const removed = await client.waitForJob(removal.body.jobId as string);
    expect(removed.state).toBe('completed');
    expect(removed.result).toMatchObject({ docId: 'bitcoin.pdf', deleted: chunks });
    const listAfter = await client.request('GET', `/v1/collections/${collection}/documents`);
    expect(listAfter.body).toEqual({ documents: [] });
    const queryAfter = await client.request<{ matches: Match[] }>(
      'POST',
      `/v1/collections/${collection}/query`,
      {
        body: { text: 'proof-of-work chain double-spending timestamp server', k: 3 },
      },
    );
    expect(queryAfter.body.matches.filter((m) => m.docId === 'bitcoin.pdf')).toEqual([]);

    console.info(
      `[api e2e] upload of ${bytes.length} bytes answered in ${uploadMs.toFixed(0)} ms; ${chunks} chunks`,
    );
  });

  it('ingests a JSON text and finds it by its words', async () => {
    const text = '# Tulip care\n\nWater tulip bulbs sparingly; they rot in soggy soil.\n';
    const accepted = await client.request('POST', `/v1/collections/${collection}/documents`, {
      body: { docId: 'garden/tulips.md', text, type: 'markdown', metadata: { lang: 'en' } },
    });
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({
      docId: 'garden/tulips.md',
      contentHash: contentHash(text),
      deduplicated: false,
    });
    const done = await client.waitForJob(accepted.body.jobId as string);
    expect(done.state).toBe('completed');
    const query = await client.request<{ matches: Match[] }>('POST', `/v1/collections/${collection}/query`, {
      body: { text: 'tulip bulbs soil', k: 1 },
    });
    expect(query.body.matches[0]).toMatchObject({
      docId: 'garden/tulips.md',
      source: 'garden/tulips.md',
      metadata: { lang: 'en' },
    });
    expect(query.body.matches[0]).not.toHaveProperty('page');
    // A docId with a slash travels URL-encoded.
    const removal = await client.request(
      'DELETE',
      `/v1/collections/${collection}/documents/${encodeURIComponent('garden/tulips.md')}`,
    );
    expect(removal.status).toBe(202);
    expect((await client.waitForJob(removal.body.jobId as string)).result).toMatchObject({
      docId: 'garden/tulips.md',
    });
  });

  it("streams a job's progress as server-sent events, then its end, and closes the stream", async () => {
    // Streams opened while no worker runs (an API of its own, with no worker yet), so that
    // every change of the jobs is seen: waiting, then a batch written, then the end.
    await using idle = await startStack({
      label: 'api-e2e-sse',
      redis: inject('redisUrl'),
      chroma: inject('chromaUrl'),
    });
    const idleApi = await idle.startApi();
    const docs = idle.collection('sse');
    const sse = new TestClient(idleApi.url, mintToken({ collections: [docs] }));
    // About 370 chunks: two batches, so the job reports progress between them.
    const markdown = corpusPath('markdown/en/docs/reference/instrumentation/metrics.md');
    const accepted = await sse.upload<{ jobId: string }>(docs, markdown);
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    // Owner password only, one blank page: fails with NO_TEXT.
    const hostile = await sse.upload<{ jobId: string }>(docs, corpusPath('pdf/hostile/empty_protected.pdf'));
    expect(hostile.status, JSON.stringify(hostile.body)).toBe(202);
    const open = (jobId: string) =>
      fetch(`${idleApi.url}/v1/jobs/${jobId}/events`, { headers: { authorization: `Bearer ${sse.token}` } });
    const [response, failing] = await Promise.all([open(accepted.body.jobId), open(hostile.body.jobId)]);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    // The worker's Chroma is behind a gate that holds every upsert after the first until the
    // stream has shown the first batch written: the progress between batches cannot be skipped
    // (the stream sends the job as it is when it looks, not every change).
    const gate = await GatedProxy.start(inject('chromaUrl'));
    let upserts = 0;
    gate.holdWhen((method, path) => isChromaWrite(method, path) && path.endsWith('/upsert') && ++upserts > 1);
    let body: string;
    try {
      await idle.startWorker({ WORKER_CONCURRENCY: '1', CHROMA_URL: gate.url });
      body = await readStream(response, (text) => {
        if (eventsOf(text).some((e) => writtenOf(e.data) > 0)) gate.release();
      });
    } finally {
      await gate.close();
    }

    // The whole body: the stream ends by itself after the job's last event.
    const events = eventsOf(body);
    expect(events[0]).toMatchObject({ event: 'progress', data: { state: 'waiting' } });
    expect(events.slice(0, -1).every((e) => e.event === 'progress')).toBe(true);
    expect(events.at(-1)).toMatchObject({
      event: 'completed',
      data: { state: 'completed', result: { docId: 'metrics.md' } },
    });
    const total = events.at(-1)!.data.result!.chunks;
    const written = events.map((e) => writtenOf(e.data));
    expect(written).toEqual([...written].sort((a, b) => a - b));
    // The first batch, written and reported before the job ended.
    expect(written.some((n) => n > 0 && n < total)).toBe(true);

    // A failed job's stream ends with `failed` and the job's code.
    const failed = eventsOf(await failing.text());
    expect(failed.at(-1)).toMatchObject({
      event: 'failed',
      data: { state: 'failed', error: { code: 'NO_TEXT' } },
    });
    expect(failed.slice(0, -1).every((e) => e.event === 'progress')).toBe(true);

    // A finished job's stream answers its end at once; the token rules are GET /v1/jobs/{id}'s.
    const again = await (
      await fetch(`${sse.baseUrl}/v1/jobs/${accepted.body.jobId}/events`, {
        headers: { authorization: `Bearer ${sse.token}` },
      })
    ).text();
    expect(again).toMatch(/^event: completed\n/);
    const other = await fetch(`${sse.baseUrl}/v1/jobs/${accepted.body.jobId}/events`, {
      headers: { authorization: `Bearer ${mintToken({ collections: ['another'] })}` },
    });
    expect(other.status).toBe(403);
    const missing = await fetch(`${sse.baseUrl}/v1/jobs/ing-missing/events`, {
      headers: { authorization: `Bearer ${sse.token}` },
    });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });

    // The SDK's wait follows the same stream and reports progress on the way.
    const sdk = new SluiceClient({ apiUrl: client.baseUrl, token: client.token! });
    const job = await sdk.ingest({ collection, docId: 'metrics-copy.md', file: markdown });
    const seen: JobStatus[] = [];
    const result = await sdk.wait(job.jobId, {
      timeoutMs: 60_000,
      onProgress: (status) => seen.push(status),
    });
    expect(result.docId).toBe('metrics-copy.md');
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen.every((s) => s.state !== 'completed' && s.state !== 'failed')).toBe(true);
    await sdk.close();
  });

  it('audits a collection: finds drift injected straight into Chroma, repairs it, and exports the drift as a gauge', async () => {
    const audited = stack.collection('audit');
    const auditor = new TestClient(client.baseUrl, mintToken({ collections: [audited] }));
    const texts = ['# Roses\n\nPrune roses in late winter.', '# Ferns\n\nFerns like shade and moist soil.'];
    for (const [i, text] of texts.entries()) {
      const accepted = await auditor.request('POST', `/v1/collections/${audited}/documents`, {
        body: { docId: `plant-${i}.md`, text, type: 'markdown' },
      });
      expect((await auditor.waitForJob(accepted.body.jobId as string)).state).toBe('completed');
    }
    const clean = await auditor.request('POST', `/v1/collections/${audited}/audit`, { body: {} });
    expect(clean.status).toBe(200);
    expect(clean.body).toMatchObject({
      documents: 2,
      missing: 0,
      orphans: 0,
      stale: 0,
      duplicates: 0,
      repairJobs: [],
    });

    // Drift, written straight into Chroma behind Sluice's back: a chunk deleted, one relabelled.
    const handle = await new ChromaStore({ url: stack.chromaUrl }).collection(audited);
    const all = await handle.get({ include: ['metadatas'] });
    await handle.delete({ ids: [all.ids[0]!] });
    await handle.update({ ids: [all.ids[1]!], metadatas: [{ source: 'tampered' }] });
    const found = await auditor.request<{ missing: number; stale: number; repairJobs: string[] }>(
      'POST',
      `/v1/collections/${audited}/audit`,
      { body: { repair: false } },
    );
    expect(found.body).toMatchObject({ missing: 1, stale: 1, repairJobs: [] });
    const metrics = await (await fetch(`${api.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(`sluice_audit_drift\\{[^}]*collection="${audited}"[^}]*kind="missing"[^}]*\\} 1`),
    );

    const repaired = await auditor.request<{ repairJobs: string[] }>(
      'POST',
      `/v1/collections/${audited}/audit`,
      {
        body: { repair: true },
      },
    );
    expect(repaired.body.repairJobs.length).toBe(2);
    for (const jobId of repaired.body.repairJobs)
      expect((await auditor.waitForJob(jobId)).state).toBe('completed');
    const after = await auditor.request('POST', `/v1/collections/${audited}/audit`, { body: {} });
    expect(after.body).toMatchObject({
      documents: 2,
      chunks: all.ids.length,
      missing: 0,
      stale: 0,
      orphans: 0,
      duplicates: 0,
    });
    // A token that does not cover the collection may not audit it.
    expect((await client.request('POST', `/v1/collections/${audited}/audit`, { body: {} })).status).toBe(403);
  });
});
