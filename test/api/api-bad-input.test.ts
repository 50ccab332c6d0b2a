import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { corpusPath } from '../support/documents.js';
import { waitFor } from '../support/ports.js';
import { startNode } from '../support/processes.js';
import {
  API_MAIN,
  assertBuilt,
  mintToken,
  startStack,
  type ApiProcess,
  type TestStack,
} from '../support/stack.js';
import { TestClient } from './api-client.js';

const MiB = 1024 * 1024;
const LIMIT = 1 * MiB;
const PNG = Buffer.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1,
]);
const ZIP = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 8, 0]), Buffer.alloc(64, 7)]);

interface ErrorAnswer {
  error: { code: string; message: string; field?: string };
}

/** What an oversized upload saw. */
interface OversizedOutcome {
  /** The answer's status (0 if none arrived). */
  status: number;
  body: string;
  /** Time to the answer's headers. */
  ms: number;
  /** Body bytes written when the answer arrived. */
  sentBeforeAnswer: number;
  /** Body bytes written in all, when sending stopped (answer seen, connection cut, or all sent). */
  sent: number;
  /** Whether the server cut the connection before the whole body was written. */
  cut: boolean;
}

/**
 * Streams a multipart upload of `totalBytes` in 64 KiB chunks, honouring backpressure, and stops
 * at the answer. `chunked` leaves out Content-Length, so the server can only find out by counting.
 */
async function sendOversized(
  url: string,
  token: string,
  totalBytes: number,
  { chunked }: { chunked: boolean },
): Promise<OversizedOutcome> {
  const boundary = 'sluice-test-boundary';
  const head = Buffer.from(
    `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="big.pdf"\r\n` +
      `content-type: application/pdf\r\n\r\n%PDF-1.7\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  const contentLength = head.length + totalBytes + tail.length;
  const started = performance.now();
  const outcome: OversizedOutcome = { status: 0, body: '', ms: 0, sentBeforeAnswer: 0, sent: 0, cut: false };
  return new Promise((resolve) => {
    const req = httpRequest(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        ...(chunked ? {} : { 'content-length': String(contentLength) }),
      },
    });
    let answered = false;
    let writing = true;
    let reading = true;
    const settle = () => {
      if (writing || reading) return;
      req.destroy();
      resolve(outcome);
    };
    req.on('response', (res) => {
      answered = true;
      outcome.status = res.statusCode ?? 0;
      outcome.sentBeforeAnswer = outcome.sent;
      outcome.ms = performance.now() - started;
      res.setEncoding('utf8').on('data', (d: string) => (outcome.body += d));
      res.on('error', () => undefined);
      res.on('close', () => {
        reading = false;
        writing = false;
        settle();
      });
    });
    // The connection ended before the body did: the server cut it, or (Node's client does this
    // on a complete `Connection: close` answer) the client gave up sending.
    const ended = () => {
      outcome.cut ||= outcome.sent < totalBytes;
      writing = false;
      reading = false;
      settle();
    };
    req.on('error', ended);
    req.on('close', ended);
    const pump = () => {
      if (!writing) return;
      if (outcome.sent === 0) req.write(head);
      while (outcome.sent < totalBytes && writing && !answered) {
        const piece = chunk.subarray(0, Math.min(chunk.length, totalBytes - outcome.sent));
        outcome.sent += piece.length;
        if (!req.write(piece)) {
          req.once('drain', pump);
          return;
        }
      }
      if (outcome.sent >= totalBytes && writing) {
        req.end(tail);
        writing = false;
        settle();
      }
    };
    pump();
  });
}

/**
 * A client that never listens: it writes a chunked multipart upload of `totalBytes` over a raw
 * socket, ignoring whatever comes back, until the server closes the connection (or all is
 * written). Shows how much of a body the server takes in before it cuts a client off.
 */
async function sendWithoutListening(
  url: string,
  token: string,
  totalBytes: number,
): Promise<{ status: number; sent: number; cut: boolean; ms: number }> {
  const { hostname, port, pathname } = new URL(url);
  const boundary = 'sluice-test-boundary';
  const frame = (data: Buffer) =>
    Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
  const head = frame(
    Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="big.pdf"\r\n\r\n%PDF-1.7\n`,
    ),
  );
  const piece = frame(Buffer.alloc(64 * 1024, 0x41));
  const started = performance.now();
  return new Promise((resolve) => {
    let sent = 0;
    let received = '';
    let answeredMs = 0;
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `POST ${pathname} HTTP/1.1\r\nhost: ${hostname}:${port}\r\nauthorization: Bearer ${token}\r\n` +
          `content-type: multipart/form-data; boundary=${boundary}\r\ntransfer-encoding: chunked\r\n\r\n`,
      );
      socket.write(head);
      pump();
    });
    const pump = () => {
      while (sent < totalBytes && !socket.destroyed) {
        sent += 64 * 1024;
        if (!socket.write(piece)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (sent >= totalBytes) socket.end('0\r\n\r\n');
    };
    socket.setEncoding('latin1').on('data', (d: string) => {
      if (!received) answeredMs = performance.now() - started;
      received += d;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0),
        sent,
        cut: sent < totalBytes,
        ms: answeredMs,
      });
    });
  });
}

async function residentBytes(api: ApiProcess): Promise<number> {
  const text = await (await fetch(`${api.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('process_resident_memory_bytes '));
  return Number(line?.split(' ').pop());
}

describe('the API refuses bad input with the right status and code', () => {
  let stack: TestStack;
  let api: ApiProcess;
  let collection: string;
  let other: string;
  let all: TestClient;

  beforeAll(async () => {
    stack = await startStack({ label: 'api-bad', redis: inject('redisUrl'), chroma: inject('chromaUrl') });
    collection = stack.collection('bad');
    other = stack.collection('other');
    api = await stack.startApi({
      MAX_UPLOAD_BYTES: String(LIMIT),
      LOG_LEVEL: 'info',
    });
    all = new TestClient(api.url, mintToken({ collections: '*' }));
  });

  afterAll(async () => {
    await stack?.stop();
  });

  describe('401 UNAUTHENTICATED', () => {
    const cases: [string, () => string | undefined, RegExp][] = [
      ['no Authorization header', () => undefined, /missing/],
      [
        'a token signed with another secret',
        () => mintToken({ collections: '*' }, { secret: 'x'.repeat(40) }),
        /signature/,
      ],
      ['an expired token', () => mintToken({ collections: '*' }, { expiresInS: -120 }), /expired/],
      ['a malformed token', () => 'not.a.jwt', /malformed/],
      ['a token without a collections claim', () => mintToken({ sub: 'someone' }), /collections/],
      [
        'a token signed with another algorithm',
        () => mintToken({ collections: '*' }, { alg: 'HS512' }),
        /HS256|signature|malformed/,
      ],
    ];
    it.each(cases)('for %s', async (_label, token, message) => {
      const client = new TestClient(api.url, token());
      for (const [method, path] of [
        ['GET', `/v1/collections/${collection}/documents`],
        ['GET', '/v1/jobs/ing-0000'],
        ['POST', `/v1/collections/${collection}/query`],
      ] as const) {
        const answer = await client.request<ErrorAnswer>(
          method,
          path,
          method === 'POST' ? { body: { text: 'x' } } : {},
        );
        expect(answer.status, `${method} ${path}`).toBe(401);
        expect(answer.body.error.code).toBe('UNAUTHENTICATED');
        expect(answer.body.error.message).toMatch(message);
      }
    });

    it('before reading an upload: a 100 MiB upload without a token is refused while it is sent', async () => {
      const outcome = await sendOversized(
        `${api.url}/v1/collections/${collection}/documents`,
        'bad',
        100 * MiB,
        {
          chunked: true,
        },
      );
      // 100 MiB, not 20: on loopback the client can hand 20 MiB to its socket before it sees the
      // answer, and the server reads and discards a few MiB after answering (lingering close).
      expect(outcome.status).toBe(401);
      expect(outcome.sentBeforeAnswer).toBeLessThan(100 * MiB);
    });
  });

  describe('403 FORBIDDEN for a collection outside the token', () => {
    it('on every collection route', async () => {
      const client = new TestClient(api.url, mintToken({ collections: [other] }));
      const answers = [
        await client.upload(collection, { name: 'a.txt', bytes: Buffer.from('hello') }),
        await client.request('POST', `/v1/collections/${collection}/documents`, {
          body: { docId: 'a', text: 'hello' },
        }),
        await client.request('GET', `/v1/collections/${collection}/documents`),
        await client.request('DELETE', `/v1/collections/${collection}/documents/a`),
        await client.request('POST', `/v1/collections/${collection}/query`, { body: { text: 'hello' } }),
      ];
      for (const answer of answers) {
        expect(answer.status).toBe(403);
        expect((answer.body as unknown as ErrorAnswer).error).toMatchObject({
          code: 'FORBIDDEN',
          field: 'collection',
        });
      }
      // The same token may use its own collection.
      expect((await client.request('GET', `/v1/collections/${other}/documents`)).status).toBe(200);
    });

    it("on a job of another collection, read from the job's payload", async () => {
      const accepted = await all.request('POST', `/v1/collections/${collection}/documents`, {
        body: { docId: 'job-scope', text: 'whose job is this' },
      });
      expect(accepted.status).toBe(202);
      const jobId = accepted.body.jobId as string;
      const outsider = new TestClient(api.url, mintToken({ collections: [other] }));
      const refused = await outsider.request<ErrorAnswer>('GET', `/v1/jobs/${jobId}`);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('FORBIDDEN');
      const insider = new TestClient(api.url, mintToken({ collections: [collection] }));
      const seen = await insider.request('GET', `/v1/jobs/${jobId}`);
      expect(seen.status).toBe(200);
      expect(seen.body).toMatchObject({ jobId, state: 'waiting', attempts: 0 });
    });
  });

  describe('413 TOO_LARGE', () => {
    it('refuses a 100 MiB upload with Content-Length at once, before the body is sent', async () => {
      // 100 MiB, not 20: on a loaded machine the client handed all of a 20 MiB body to the
      // loopback socket before the answer arrived (CI, 2026-12-03), as the 401 test once did.
      const outcome = await sendOversized(
        `${api.url}/v1/collections/${collection}/documents`,
        all.token!,
        100 * MiB,
        {
          chunked: false,
        },
      );
      expect(outcome.status).toBe(413);
      expect(JSON.parse(outcome.body)).toMatchObject({ error: { code: 'TOO_LARGE', field: 'file' } });
      // Loopback socket buffers (and the lingering read after the answer) take several MiB
      // whatever the server does; the point is that the answer came while the body was unsent.
      expect(outcome.sentBeforeAnswer).toBeLessThan(100 * MiB);
      expect(outcome.ms).toBeLessThan(2000);
      console.info(
        `[api 413 content-length] answered after ${outcome.ms.toFixed(0)} ms with ${(outcome.sentBeforeAnswer / MiB).toFixed(1)} of 100 MiB sent`,
      );
    });

    it('cuts off a chunked upload (no Content-Length) once the file passes the limit, never reading it all', async () => {
      const before = await residentBytes(api);
      // A client that listens to nothing and would send 100 MiB: the server must stop it.
      const outcome = await sendWithoutListening(
        `${api.url}/v1/collections/${collection}/documents`,
        all.token!,
        100 * MiB,
      );
      const after = await residentBytes(api);
      expect(outcome.status).toBe(413);
      expect(outcome.ms).toBeLessThan(3000);
      // The 1 MiB limit, the lingering read that lets a client see the answer (at most 8 MiB),
      // and socket buffers: far from the 100 MiB, which the server never took in.
      expect(outcome.cut).toBe(true);
      expect(outcome.sent).toBeLessThan(32 * MiB);
      expect(after - before).toBeLessThan(64 * MiB);
      // The partial file was removed; nothing was stored.
      expect(await readdir(stack.storageDir)).toEqual([]);
      console.info(
        `[api 413 chunked, client not listening] answered after ${outcome.ms.toFixed(0)} ms; connection cut by the server after ` +
          `${(outcome.sent / MiB).toFixed(1)} of 100 MiB; RSS ${(before / MiB).toFixed(0)} → ${(after / MiB).toFixed(0)} MiB`,
      );
    });

    it('refuses a file one byte over the limit and takes one of exactly the limit', async () => {
      const over = await all.upload(collection, { name: 'over.txt', bytes: Buffer.alloc(LIMIT + 1, 0x61) });
      expect(over.status).toBe(413);
      expect((over.body as unknown as ErrorAnswer).error.code).toBe('TOO_LARGE');
      const exact = await all.upload(collection, { name: 'exact.txt', bytes: Buffer.alloc(LIMIT, 0x61) });
      expect(exact.status).toBe(202);
    });

    it('refuses a JSON body over the limit', async () => {
      const answer = await all.request<ErrorAnswer>('POST', `/v1/collections/${collection}/documents`, {
        body: { docId: 'big', text: 'a'.repeat(2 * LIMIT) },
      });
      expect(answer.status).toBe(413);
      expect(answer.body.error.code).toBe('TOO_LARGE');
    });
  });

  describe('415 UNSUPPORTED_TYPE, sniffed from the bytes', () => {
    it.each([
      ['PNG bytes', 'picture.png', PNG, /PNG/],
      ['PNG bytes named .txt', 'notes.txt', PNG, /PNG/],
      ['ZIP bytes (a DOCX is one)', 'report.docx', ZIP, /ZIP/],
    ])('refuses %s', async (_label, name, bytes, message) => {
      const answer = await all.upload<ErrorAnswer>(collection, { name, bytes });
      expect(answer.status).toBe(415);
      expect(answer.body.error.code).toBe('UNSUPPORTED_TYPE');
      expect(answer.body.error.message).toMatch(message);
    });

    it('refuses a body that is neither multipart nor JSON', async () => {
      const answer = await all.request<ErrorAnswer>('POST', `/v1/collections/${collection}/documents`, {
        body: undefined,
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(answer.status).toBe(415);
      expect(answer.body.error.code).toBe('UNSUPPORTED_TYPE');
    });
  });

  describe('400 INVALID_REQUEST naming the field', () => {
    const pdf = corpusPath('pdf/good/002-trivial-libre-office-writer.pdf');
    it.each([
      ['a bad collection name', () => all.upload('a', pdf), 'collection'],
      [
        'a collection name with a bad character',
        () => all.request('GET', '/v1/collections/bad%20name/documents'),
        'collection',
      ],
      ['metadata that is not JSON', () => all.upload(collection, pdf, { metadata: '{nope' }), 'metadata'],
      [
        'a reserved metadata key',
        () => all.upload(collection, pdf, { metadata: '{"docId":"x"}' }),
        'metadata.docId',
      ],
      ['nested metadata', () => all.upload(collection, pdf, { metadata: '{"a":{"b":1}}' }), 'metadata.a'],
      ['a missing file', () => missingFile(), 'file'],
      ['an unknown form field', () => all.upload(collection, pdf, { title: 'x' }), 'title'],
      ['an empty docId field', () => all.upload(collection, pdf, { docId: '' }), 'docId'],
      ['an empty docId in JSON', () => jsonIngest({ docId: '', text: 'x' }), 'docId'],
      ['a JSON ingest without text', () => jsonIngest({ docId: 'a' }), 'text'],
      [
        'a reserved metadata key in JSON',
        () => jsonIngest({ docId: 'a', text: 'x', metadata: { page: 1 } }),
        'metadata.page',
      ],
      [
        'a query with k = 0',
        () => all.request('POST', `/v1/collections/${collection}/query`, { body: { text: 'x', k: 0 } }),
        'k',
      ],
      [
        'a query without text',
        () => all.request('POST', `/v1/collections/${collection}/query`, { body: { k: 1 } }),
        'text',
      ],
    ])('for %s', async (_label, send, field) => {
      const answer = (await send()) as { status: number; body: unknown };
      expect(answer.status).toBe(400);
      expect((answer.body as ErrorAnswer).error).toMatchObject({ code: 'INVALID_REQUEST', field });
    });

    function jsonIngest(body: unknown) {
      return all.request('POST', `/v1/collections/${collection}/documents`, { body });
    }
    function missingFile() {
      const form = new FormData();
      form.set('docId', 'only-a-field');
      return all.request('POST', `/v1/collections/${collection}/documents`, { body: form });
    }
  });

  describe('everything else', () => {
    it('answers 404 in the error format for an unknown job and an unknown route', async () => {
      const job = await all.request<ErrorAnswer>('GET', '/v1/jobs/ing-does-not-exist');
      expect(job.status).toBe(404);
      expect(job.body.error).toMatchObject({ code: 'NOT_FOUND', field: 'jobId' });
      const route = await all.request<ErrorAnswer>('GET', '/v2/nothing');
      expect(route.status).toBe(404);
      expect(route.body.error.code).toBe('NOT_FOUND');
    });

    it('keeps probes and the OpenAPI document open, and metrics and diagnostics off the public port', async () => {
      const open = new TestClient(api.url, undefined);
      expect((await open.request('GET', '/api/live')).status).toBe(200);
      // Readiness says ready or not, and no more, to anyone who can reach the port.
      expect((await open.request('GET', '/api/health')).body).toEqual({ status: 'ok' });
      expect((await fetch(`${api.url}/metrics`)).status).toBe(404);
      // Which dependency answers, and the metrics, are on the metrics port.
      expect(await (await fetch(`${api.metricsUrl}/api/health`)).json()).toEqual({
        status: 'ok',
        checks: { redis: 'ok', chroma: 'ok' },
      });
      const metrics = await fetch(`${api.metricsUrl}/metrics`);
      expect(metrics.status).toBe(200);
      const exposition = await metrics.text();
      expect(exposition).toMatch(/sluice_queue_jobs\{.*state="waiting"/);
      // Requests are counted by route pattern, not by raw URL.
      expect(exposition).toMatch(
        /sluice_http_request_duration_seconds_count\{[^}]*route="\/api\/live"[^}]*status="200"/,
      );
      expect((await open.request('GET', '/openapi.json')).body).toMatchObject({ openapi: '3.0.3' });
    });

    it("answers the caller's x-request-id (or a new one) and logs every line of the request under it", async () => {
      const answer = await all.request('GET', `/v1/collections/${collection}/documents`, {
        headers: { 'x-request-id': 'trace-abc.123' },
      });
      expect(answer.headers.get('x-request-id')).toBe('trace-abc.123');
      // Log lines reach the pipe a moment after the answer.
      const lines = await waitFor(async () => {
        const found = api.logs().filter((l) => l.reqId === 'trace-abc.123');
        return found.length >= 2 ? found : undefined;
      });
      expect(lines.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
      const fresh = await all.request('GET', '/api/live', {
        headers: { 'x-request-id': 'bad id with spaces' },
      });
      expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('serves the dashboard behind the token: header, ?token= (then a cookie), never logged', async () => {
      const page = `${api.url}/admin/queues`;
      expect((await fetch(page)).status).toBe(401);
      const scoped = mintToken({ collections: [collection] });
      expect((await fetch(page, { headers: { authorization: `Bearer ${scoped}` } })).status).toBe(403);
      const bearer = await fetch(page, { headers: { authorization: `Bearer ${all.token!}` } });
      expect(bearer.status).toBe(200);
      expect(await bearer.text()).toMatch(/<html/i);

      const viaQuery = await fetch(`${page}?token=${all.token!}`, { redirect: 'manual' });
      expect(viaQuery.status).toBe(303);
      expect(viaQuery.headers.get('location')).toBe('/admin/queues');
      const cookie = viaQuery.headers.get('set-cookie')!;
      expect(cookie).toMatch(/^sluice_admin_token=[^;]+; Path=\/admin; HttpOnly; SameSite=Strict/);
      const withCookie = await fetch(`${api.url}/admin/queues/api/queues`, {
        headers: { cookie: cookie.split(';')[0]! },
      });
      expect(withCookie.status).toBe(200);
      expect(await withCookie.json()).toMatchObject({
        queues: [expect.objectContaining({ name: 'ingest' })],
      });
      // ?token= is for the dashboard only.
      expect(
        (await fetch(`${api.url}/v1/collections/${collection}/documents?token=${all.token!}`)).status,
      ).toBe(401);
      expect(api.output()).not.toContain(all.token!);
      expect(api.output()).toContain('token=[redacted]');
    });
  });
});

describe('the API process configuration', () => {
  it('refuses to start without AUTH_JWT_SECRET, naming it', async () => {
    assertBuilt([API_MAIN]);
    const proc = startNode(API_MAIN, { AUTH_JWT_SECRET: '', AUTH_DISABLED: '', PORT: '0' });
    const { code } = await proc.exited;
    expect(code).not.toBe(0);
    expect(proc.output()).toContain('AUTH_JWT_SECRET');
  });

  it('starts with AUTH_DISABLED=true without a secret, warns, and takes requests without a token', async () => {
    await using stack = await startStack({
      label: 'api-noauth',
      redis: inject('redisUrl'),
      chroma: inject('chromaUrl'),
    });
    const api = await stack.startApi({ AUTH_JWT_SECRET: '', AUTH_DISABLED: 'true' });
    const collection = stack.collection('noauth');
    const answer = await new TestClient(api.url, undefined).request(
      'GET',
      `/v1/collections/${collection}/documents`,
    );
    expect(answer.status).toBe(200);
    expect(api.logs().some((l) => l.level === 40 && String(l.msg).includes('AUTH_DISABLED'))).toBe(true);
  });
});
