import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, JobFailedError, SluiceClient, SluiceError } from '@sluice/sdk';
import { corpusPath } from '../support/documents.js';
import { freePort } from '../support/ports.js';

// A real HTTP peer for the transport: it answers what each test scripts, and records what it got.

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

type Handler = (req: Received, res: ServerResponse) => void;

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()?.close();
});

async function peer(handlers: Handler[]): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const got = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      received.push(got);
      const handler = handlers[Math.min(received.length, handlers.length) - 1]!;
      handler(got, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

const accepted = { jobId: 'ing-1', docId: 'note', contentHash: 'a'.repeat(64), deduplicated: false };
const unavailable = json(503, { error: { code: 'SHUTTING_DOWN', message: 'draining' } });
const fast = { attempts: 4, baseDelayMs: 10, maxDelayMs: 50 };

function client(url: string, extra: { attempts?: number } = {}) {
  const retries: { retry: number; delayMs: number }[] = [];
  const sluice = new SluiceClient({
    apiUrl: url,
    token: 'test-token',
    retry: { ...fast, ...extra },
    onRetry: ({ retry, delayMs }) => retries.push({ retry, delayMs }),
  });
  return { sluice, retries };
}

async function failure(promise: Promise<unknown>): Promise<SluiceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  return err as SluiceError;
}

describe('HTTP transport retries', () => {
  it('retries 503 twice, then takes the 202, sending the same request each time', async () => {
    const api = await peer([unavailable, unavailable, json(202, accepted)]);
    const { sluice, retries } = client(api.url);
    const result = await sluice.ingest({
      collection: 'docs',
      docId: 'note',
      text: 'hello',
      metadata: { a: 1 },
    });
    expect(result).toEqual(accepted);
    expect(api.received).toHaveLength(3);
    expect(new Set(api.received.map((r) => r.body.toString()))).toEqual(
      new Set([JSON.stringify({ docId: 'note', text: 'hello', metadata: { a: 1 } })]),
    );
    expect(api.received[0]).toMatchObject({ method: 'POST', url: '/v1/collections/docs/documents' });
    expect(api.received[0]?.headers.authorization).toBe('Bearer test-token');
    // Exponential with jitter: the second delay's ceiling is twice the first's.
    expect(retries.map((r) => r.retry)).toEqual([1, 2]);
    expect(retries[0]!.delayMs).toBeGreaterThanOrEqual(5);
    expect(retries[0]!.delayMs).toBeLessThanOrEqual(10);
    expect(retries[1]!.delayMs).toBeGreaterThanOrEqual(10);
    expect(retries[1]!.delayMs).toBeLessThanOrEqual(20);
  });

  it('waits at least what Retry-After asks (capped by maxDelayMs)', async () => {
    const api = await peer([
      json(503, { error: { code: 'SHUTTING_DOWN', message: 'draining' } }, { 'retry-after': '0.04' }),
      json(202, accepted),
    ]);
    const { sluice, retries } = client(api.url);
    await sluice.ingest({ collection: 'docs', docId: 'note', text: 'hello' });
    expect(retries[0]!.delayMs).toBeGreaterThanOrEqual(40);
  });

  it('retries a reset connection', async () => {
    const api = await peer([(_req, res) => res.socket?.destroy(), json(202, accepted)]);
    const { sluice, retries } = client(api.url);
    expect(await sluice.ingest({ collection: 'docs', docId: 'note', text: 'hello' })).toEqual(accepted);
    expect(api.received).toHaveLength(2);
    expect(retries).toHaveLength(1);
  });

  it('never retries a 4xx: the error carries the code, status, message and field of the answer', async () => {
    const api = await peer([
      json(400, { error: { code: 'INVALID_REQUEST', message: 'docId: too long', field: 'docId' } }),
    ]);
    const { sluice, retries } = client(api.url);
    const err = await failure(sluice.ingest({ collection: 'docs', docId: 'note', text: 'hello' }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      code: 'INVALID_REQUEST',
      httpStatus: 400,
      field: 'docId',
      message: 'docId: too long',
    });
    expect(api.received).toHaveLength(1);
    expect(retries).toHaveLength(0);
  });

  it('gives up after the configured attempts with the last answer', async () => {
    const api = await peer([unavailable]);
    const { sluice } = client(api.url, { attempts: 3 });
    const err = await failure(sluice.status('ing-1'));
    expect(err).toMatchObject({ code: 'SHUTTING_DOWN', httpStatus: 503 });
    expect(api.received).toHaveLength(3);
  });

  it("maps a proxy's non-JSON 502 page to DEPENDENCY_UNAVAILABLE", async () => {
    const api = await peer([
      (_req, res) => {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html>Bad Gateway</html>');
      },
    ]);
    const { sluice } = client(api.url, { attempts: 2 });
    const err = await failure(sluice.list({ collection: 'docs' }));
    expect(err).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', httpStatus: 502 });
    expect(api.received).toHaveLength(2);
  });

  it('retries a refused connection a bounded number of times, then says it cannot reach the API', async () => {
    const port = await freePort();
    const { sluice, retries } = client(`http://127.0.0.1:${port}`, { attempts: 3 });
    const err = await failure(sluice.query({ collection: 'docs', text: 'anything' }));
    expect(err.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(err.message).toContain('ECONNREFUSED');
    expect(retries).toHaveLength(2);
  });
});

describe('HTTP transport requests', () => {
  it('uploads a file as multipart: docId and metadata first, then the file with its name and type', async () => {
    const api = await peer([json(202, { ...accepted, docId: 'guides/hello.md' })]);
    const { sluice } = client(api.url);
    const path = corpusPath('markdown/ru/docs/tutorials/hello-minikube.md');
    await sluice.ingest({
      collection: 'docs',
      docId: 'guides/hello.md',
      file: path,
      metadata: { team: 'docs' },
    });
    const got = api.received[0]!;
    expect(got.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    const form = await new Response(new Uint8Array(got.body), {
      headers: { 'content-type': got.headers['content-type']! },
    }).formData();
    expect([...form.keys()]).toEqual(['docId', 'metadata', 'file']);
    expect(form.get('docId')).toBe('guides/hello.md');
    expect(JSON.parse(form.get('metadata') as string)).toEqual({ team: 'docs' });
    const file = form.get('file') as File;
    expect(file.name).toBe('hello-minikube.md');
    expect(file.type).toBe('text/markdown');
    expect(Buffer.from(await file.arrayBuffer()).equals(await readFile(path))).toBe(true);
  });

  it('encodes path segments: a docId with slashes is one segment of the DELETE path', async () => {
    const api = await peer([json(202, { jobId: 'del-1' })]);
    const { sluice } = client(api.url);
    expect(await sluice.remove({ collection: 'docs', docId: 'a/b c.md' })).toEqual({ jobId: 'del-1' });
    expect(api.received[0]).toMatchObject({
      method: 'DELETE',
      url: '/v1/collections/docs/documents/a%2Fb%20c.md',
    });
  });

  it('checks input before sending anything', async () => {
    const api = await peer([json(202, accepted)]);
    const { sluice } = client(api.url);
    expect((await failure(sluice.ingest({ collection: '-bad-', docId: 'x', text: 't' }))).code).toBe(
      'INVALID_REQUEST',
    );
    expect(
      (await failure(sluice.ingest({ collection: 'docs', file: corpusPath('MANIFEST.tsv') }))).code,
    ).toBe('UNSUPPORTED_TYPE');
    expect((await failure(sluice.query({ collection: 'docs', text: 'x', k: 0 }))).code).toBe(
      'INVALID_REQUEST',
    );
    expect(api.received).toHaveLength(0);
  });

  it('rejects an answer that does not match the contract', async () => {
    const api = await peer([json(202, { jobId: 1 })]);
    const { sluice } = client(api.url);
    const err = await failure(sluice.ingest({ collection: 'docs', docId: 'x', text: 't' }));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toMatch(/unexpected answer/);
  });
});

describe('HTTP wait: the job event stream', () => {
  const job = (state: string, extra: Record<string, unknown> = {}) => ({
    jobId: 'ing-1',
    name: 'ingest-document',
    state,
    progress: 0,
    attempts: 0,
    ...extra,
  });
  /** Answers an event stream with these events; leaves it open unless `end`. */
  const events =
    (frames: { event: string; data: unknown }[], end = true): Handler =>
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': a comment, as a heartbeat\n\n');
      for (const { event, data } of frames) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      if (end) res.end();
    };
  const result = {
    docId: 'note',
    contentHash: 'a'.repeat(64),
    chunks: 3,
    embedded: 3,
    skipped: 0,
    updated: 0,
    deleted: 0,
  };

  it('follows the stream to the job’s end, reporting progress, and returns its result', async () => {
    const api = await peer([
      events([
        { event: 'progress', data: job('waiting') },
        { event: 'progress', data: job('active', { progress: { chunks: 3, chunksWritten: 1 } }) },
        { event: 'completed', data: job('completed', { result }) },
      ]),
    ]);
    const { sluice } = client(api.url);
    const seen: string[] = [];
    expect(await sluice.wait('ing-1', { timeoutMs: 5000, onProgress: (s) => seen.push(s.state) })).toEqual(
      result,
    );
    expect(seen).toEqual(['waiting', 'active']);
    expect(api.received.map((r) => [r.url, r.headers.accept, r.headers.authorization])).toEqual([
      ['/v1/jobs/ing-1/events', 'text/event-stream', 'Bearer test-token'],
    ]);
  });

  it("throws the failed job's code as a JobFailedError", async () => {
    const api = await peer([
      events([
        {
          event: 'failed',
          data: job('failed', { attempts: 1, error: { code: 'INVALID_DOCUMENT', message: 'not a PDF' } }),
        },
      ]),
    ]);
    const { sluice } = client(api.url);
    const err = await failure(sluice.wait('ing-1'));
    expect(err).toBeInstanceOf(JobFailedError);
    expect(err).toMatchObject({
      code: 'INVALID_DOCUMENT',
      message: 'not a PDF',
      jobId: 'ing-1',
      attempts: 1,
    });
  });

  it('opens the stream again when it ends early, and rides out the API being away (a rolling update)', async () => {
    const api = await peer([
      // An API instance shutting down ends its streams without a final event.
      events([{ event: 'progress', data: job('active') }]),
      unavailable,
      unavailable,
      events([{ event: 'completed', data: job('completed', { result }) }]),
    ]);
    const { sluice } = client(api.url);
    expect(await sluice.wait('ing-1', { timeoutMs: 10_000 })).toEqual(result);
    expect(api.received).toHaveLength(4);
  });

  it('answers a job that does not exist with NOT_FOUND, at once', async () => {
    const api = await peer([json(404, { error: { code: 'NOT_FOUND', message: 'no job ing-1' } })]);
    const { sluice } = client(api.url);
    expect((await failure(sluice.wait('ing-1', { timeoutMs: 5000 }))).code).toBe('NOT_FOUND');
    expect(api.received).toHaveLength(1);
  });

  it('gives up with TIMEOUT, and stops on abort', async () => {
    const api = await peer([events([{ event: 'progress', data: job('active') }], false)]);
    const { sluice } = client(api.url);
    const started = Date.now();
    expect((await failure(sluice.wait('ing-1', { timeoutMs: 500 }))).code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2000);
    const reason = new Error('stop');
    await expect(sluice.wait('ing-1', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});
