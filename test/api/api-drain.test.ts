import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { contentHash } from '@sluice/core';
import { corpusPath } from '../support/documents.js';
import { mintToken, startStack, type ApiProcess, type TestStack } from '../support/stack.js';
import { TestClient, newRequestId } from './api-client.js';

const SHUTDOWN_DELAY_MS = 2000;
const UPLOADERS = 50;
const KEEP_ALIVE_CLIENTS = 4;
const PDF = corpusPath('pdf/good/TAMReview.pdf');
const BOUNDARY = 'sluice-drain-boundary';

/** One request the load made, and how it ended. */
interface Outcome {
  id: string;
  kind: 'upload' | 'job' | 'health' | 'live';
  start: number;
  end: number;
  status?: number;
  code?: string;
  error?: string;
}

function errorCode(err: unknown): string {
  let current: unknown = err;
  while (current && typeof current === 'object') {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === 'string') return code;
    current = cause;
  }
  return err instanceof Error ? err.message : String(err);
}

/** A GET over a given agent (keep-alive, or none for a fresh connection each time). */
function get(
  url: string,
  headers: Record<string, string>,
  agent: Agent | false,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('API drain on SIGTERM', () => {
  let stack: TestStack;
  let api: ApiProcess;

  beforeAll(async () => {
    stack = await startStack({ label: 'api-drain', redis: inject('redisUrl'), chroma: inject('chromaUrl') });
    api = await stack.startApi({
      SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS),
      // Every request's "incoming request" line tells which requests the server accepted.
      LOG_LEVEL: 'info',
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('streams a 40 MiB upload to STORAGE_DIR under its sha256', async () => {
    const collection = stack.collection('big');
    const client = new TestClient(api.url, mintToken({ collections: [collection] }));
    const bytes = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(40 * 1024 * 1024)]);
    const rss = async () => {
      const text = await (await fetch(`${api.metricsUrl}/metrics`)).text();
      return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)?.[1]);
    };
    const before = await rss();
    const started = performance.now();
    const answer = await client.upload(collection, { name: 'big.pdf', bytes });
    const ms = performance.now() - started;
    const after = await rss();
    expect(answer.status).toBe(202);
    const sha = contentHash(bytes);
    expect(answer.body).toMatchObject({ docId: 'big.pdf', contentHash: sha, deduplicated: false });
    // Stored under its content address, byte for byte; no temporary file left behind.
    expect(await readdir(stack.storageDir)).toEqual([sha]);
    expect(contentHash(await readFile(join(stack.storageDir, sha)))).toBe(sha);
    console.info(
      `[api upload] 40 MiB in ${ms.toFixed(0)} ms = ${((40 * 1000) / ms).toFixed(0)} MiB/s (client and server on one loaded host); ` +
        `RSS ${(before / 1048576).toFixed(0)} → ${(after / 1048576).toFixed(0)} MiB`,
    );
  });

  it('with 50 uploads in flight and keep-alive clients hammering: every accepted request succeeds, readiness is 503 during the delay, exit 0', async () => {
    const collection = stack.collection('drain');
    const token = mintToken({ collections: [collection] });
    const client = new TestClient(api.url, token);
    const seed = await client.request('POST', `/v1/collections/${collection}/documents`, {
      body: { docId: 'seed', text: 'a job to look at' },
    });
    expect(seed.status).toBe(202);
    const jobUrl = `${api.url}/v1/jobs/${seed.body.jobId as string}`;
    const pdf = await readFile(PDF);
    // The multipart body is built once, so that the client process spends its time sending.
    const filePart = Buffer.concat([
      Buffer.from(
        `--${BOUNDARY}\r\ncontent-disposition: form-data; name="file"; filename="review.pdf"\r\n` +
          'content-type: application/pdf\r\n\r\n',
      ),
      pdf,
      Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
    ]);
    const fields = (docId: string) =>
      Buffer.from(`--${BOUNDARY}\r\ncontent-disposition: form-data; name="docId"\r\n\r\n${docId}\r\n`);

    const outcomes: Outcome[] = [];
    let stopped = false;
    const record = async (
      kind: Outcome['kind'],
      run: (id: string) => Promise<{ status: number; body: string }>,
    ) => {
      const id = newRequestId(kind);
      const start = Date.now();
      try {
        const { status, body } = await run(id);
        let code: string | undefined;
        try {
          code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
        } catch {
          // Not JSON.
        }
        outcomes.push({ id, kind, start, end: Date.now(), status, ...(code ? { code } : {}) });
        return { status, code };
      } catch (err) {
        outcomes.push({ id, kind, start, end: Date.now(), error: errorCode(err) });
        return { error: errorCode(err) };
      }
    };
    // A client stops once the server turns it away cleanly (as it would then go elsewhere).
    const turnedAway = (r: { status?: number; code?: string; error?: string }) =>
      r.error !== undefined || r.code === 'SHUTTING_DOWN';

    const uploader = async (n: number) => {
      for (let i = 0; !stopped; i++) {
        const r = await record('upload', async (id) => {
          const res = await fetch(`${api.url}/v1/collections/${collection}/documents`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`,
              'x-request-id': id,
              'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
            },
            body: Buffer.concat([fields(`doc-${n}-${i}`), filePart]),
          });
          return { status: res.status, body: await res.text() };
        });
        if (turnedAway(r)) return;
      }
    };
    const hammer = async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        while (!stopped) {
          const r = await record('job', (id) =>
            get(jobUrl, { authorization: `Bearer ${token}`, 'x-request-id': id }, agent),
          );
          if (turnedAway(r)) return;
        }
      } finally {
        agent.destroy();
      }
    };
    // Probes go out every 100 ms on fresh connections, without waiting for the previous answer.
    const prober = async () => {
      const probes: Promise<unknown>[] = [];
      let refusedAt: number | undefined;
      while (!stopped && refusedAt === undefined) {
        probes.push(
          record('health', (id) => get(`${api.url}/api/health`, { 'x-request-id': id }, false)).then((r) => {
            if (r.error === 'ECONNREFUSED') refusedAt = Date.now();
          }),
          record('live', (id) => get(`${api.url}/api/live`, { 'x-request-id': id }, false)),
        );
        await new Promise((r) => setTimeout(r, 100));
      }
      await Promise.all(probes);
    };

    const loadStart = Date.now();
    const load = Promise.all([
      ...Array.from({ length: UPLOADERS }, (_, n) => uploader(n)),
      ...Array.from({ length: KEEP_ALIVE_CLIENTS }, () => hammer()),
      prober(),
    ]);
    await new Promise((r) => setTimeout(r, 1000));
    const signalledAt = Date.now();
    api.signal('SIGTERM');
    const exit = await api.exited;
    const exitedAt = Date.now();
    // Clients still looping now see connection refusals and stop; give them a moment.
    setTimeout(() => (stopped = true), 2000).unref();
    await load;

    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitedAt - signalledAt).toBeGreaterThanOrEqual(SHUTDOWN_DELAY_MS - 100);
    expect(exitedAt - signalledAt).toBeLessThan(SHUTDOWN_DELAY_MS + 5000);

    // The server's own account: when it stopped taking new requests, when its listener closed,
    // and which requests reached it (logged on arrival under the ID the client sent).
    const logs = api.logs();
    const timeOf = (prefix: string) => {
      const line = logs.find((l) => String(l.msg).startsWith(prefix));
      expect(line, `log line "${prefix}…"`).toBeDefined();
      return Date.parse(String(line!.time));
    };
    const stoppingAt = timeOf('stopping');
    const closingAt = timeOf('closing');
    const arrivedAt = new Map(
      logs
        .filter((l) => l.msg === 'incoming request')
        .map((l) => [String(l.reqId), Date.parse(String(l.time))]),
    );

    const ok = (o: Outcome) => o.status !== undefined && o.status >= 200 && o.status < 300;
    const refused = (o: Outcome) =>
      o.error === 'ECONNREFUSED' || (o.status === 503 && o.code === 'SHUTTING_DOWN');
    const expected = (o: Outcome) => ok(o) || refused(o) || (o.kind === 'health' && o.status === 503);
    const accepted = outcomes.filter((o) => arrivedAt.has(o.id));
    const unseen = outcomes.filter((o) => !arrivedAt.has(o.id));

    // Every request the server accepted ended in 2xx, or (arriving after it stopped taking new
    // work) a 503 SHUTTING_DOWN; none got a reset, a 5xx or a hang.
    const acceptedFailures = accepted.filter((o) => !expected(o));
    expect(acceptedFailures, JSON.stringify(acceptedFailures.slice(0, 5))).toEqual([]);
    const refusedEarly = accepted.filter((o) => refused(o) && arrivedAt.get(o.id)! < stoppingAt - 20);
    expect(refusedEarly, 'refused before the server stopped taking requests').toEqual([]);
    // Requests the server never saw either found the port closed, or were connections still
    // waiting in the kernel's accept queue (or not yet sent by a busy client) when the listener
    // closed, which the kernel resets: cut by the close, never earlier.
    const cut = unseen.filter((o) => !expected(o));
    for (const o of cut) {
      expect(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']).toContain(o.error);
      expect(o.end).toBeGreaterThanOrEqual(closingAt - 20);
    }

    // Readiness: 200 before the signal, 503 from just after it, while liveness and the API kept
    // answering 200 until the server stopped taking requests.
    const duringDelay = (o: Outcome) => o.start > signalledAt + 50 && o.end < stoppingAt;
    const health = outcomes.filter((o) => o.kind === 'health' && o.status !== undefined);
    expect(health.filter((o) => o.end < signalledAt).every((o) => o.status === 200)).toBe(true);
    expect(health.filter(duringDelay).length).toBeGreaterThanOrEqual(3);
    expect(health.filter(duringDelay).every((o) => o.status === 503)).toBe(true);
    expect(outcomes.filter((o) => o.kind === 'live' && duringDelay(o)).every(ok)).toBe(true);
    expect(outcomes.filter((o) => o.kind === 'job' && duringDelay(o)).every(ok)).toBe(true);
    expect(outcomes.filter((o) => o.kind === 'job' && duringDelay(o)).length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.kind === 'upload' && duringDelay(o) && ok(o)).length).toBeGreaterThan(0);

    // Requests the server was working on when it stopped taking new ones all finished with 2xx.
    const inFlight = accepted.filter(
      (o) => arrivedAt.get(o.id)! < stoppingAt && o.end > stoppingAt && o.kind !== 'health',
    );
    expect(inFlight.filter((o) => o.kind === 'upload').length).toBeGreaterThan(0);
    expect(inFlight.every(ok), JSON.stringify(inFlight.filter((o) => !ok(o)).slice(0, 5))).toBe(true);

    const uploads = outcomes.filter((o) => o.kind === 'upload' && ok(o));
    const beforeSignal = uploads.filter((o) => o.end < signalledAt);
    const mib = (beforeSignal.length * pdf.length) / (1024 * 1024);
    console.info(
      `[api drain] ${outcomes.length} requests, ${accepted.length} reached the server; ${uploads.length} uploads accepted ` +
        `(${beforeSignal.length} in the first ${signalledAt - loadStart} ms = ` +
        `${(mib / ((signalledAt - loadStart) / 1000)).toFixed(0)} MiB/s with ${UPLOADERS} at once); ` +
        `${inFlight.length} in flight when it stopped taking requests (${inFlight.filter((o) => o.kind === 'upload').length} uploads), all 2xx; ` +
        `${outcomes.filter(refused).length} clean refusals; ${cut.length} never-accepted connections reset by the listener close; ` +
        `stopped ${stoppingAt - signalledAt} ms, listener closed ${closingAt - signalledAt} ms, exit ${exitedAt - signalledAt} ms after SIGTERM`,
    );
  });
});
