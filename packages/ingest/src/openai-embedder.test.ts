import { SluiceError, isDependencyOutage } from '@sluice/core';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { EmbeddingRateLimiter, EmbeddingRequestEvent } from './embedding-limits.js';
import { OpenAiEmbedder, parseResetDuration } from './openai-embedder.js';

const DIMS = 8;

/** What the peer does with one request; requests beyond the script are answered normally. */
type Step =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | 'hang'
  | { embeddings: (input: string[]) => unknown };

interface RecordedRequest {
  model: string;
  input: string[];
  dimensions?: number;
  authorization: string | undefined;
}

/** The deterministic vector the peer returns for a text. */
function vectorOf(text: string): number[] {
  const digest = createHash('sha256').update(text).digest();
  return Array.from({ length: DIMS }, (_, i) => digest[i]! / 255);
}

/**
 * A tiny OpenAI-compatible embeddings server on 127.0.0.1 (a test peer, not a mock): answers
 * `POST /v1/embeddings` with deterministic vectors, listed in reverse order so that the client
 * must sort by `index`, after playing a script of failures.
 */
async function startPeer(script: Step[] = []) {
  const requests: RecordedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<
        RecordedRequest,
        'authorization'
      >;
      requests.push({ ...body, authorization: req.headers.authorization });
      const step = script.shift();
      if (step === 'hang') return;
      if (req.url !== '/v1/embeddings') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `no route ${req.url}` } }));
        return;
      }
      if (step && 'status' in step) {
        res.writeHead(step.status, { 'content-type': 'application/json', ...step.headers });
        res.end(JSON.stringify(step.body ?? { error: { message: `scripted ${step.status}` } }));
        return;
      }
      const data =
        step && 'embeddings' in step
          ? step.embeddings(body.input)
          : body.input
              .map((text, index) => ({ object: 'embedding', index, embedding: vectorOf(text) }))
              .reverse();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data, model: body.model, usage: { prompt_tokens: 1 } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const peer = {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  peers.push(peer);
  return peer;
}

const peers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((peer) => peer.close()));
});

async function failure(promise: Promise<unknown>): Promise<SluiceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof SluiceError)) throw new Error(`expected a SluiceError, got ${String(err)}`);
  return err;
}

/** Records what the embedder asks of its rate limiter (the Redis one has an integration test). */
class RecordingLimiter implements EmbeddingRateLimiter {
  readonly acquired: number[] = [];
  readonly holds: number[] = [];
  readonly adjustments: number[] = [];
  acquire(tokens: number): Promise<number> {
    this.acquired.push(tokens);
    return Promise.resolve(0);
  }
  holdOff(ms: number): Promise<void> {
    this.holds.push(ms);
    return Promise.resolve();
  }
  adjust(tokens: number): Promise<void> {
    this.adjustments.push(tokens);
    return Promise.resolve();
  }
}

const texts = (n: number) => Array.from({ length: n }, (_, i) => `text number ${i}`);

describe('OpenAiEmbedder', () => {
  it('sends batches of batchSize and returns vectors in input order', async () => {
    const peer = await startPeer();
    const embedder = new OpenAiEmbedder({
      baseUrl: `${peer.baseUrl}/`,
      model: 'nomic-embed-text',
      batchSize: 64,
    });
    expect(embedder.id).toBe('openai:nomic-embed-text');
    const input = texts(150);
    const vectors = await embedder.embed(input);
    expect(peer.requests.map((r) => r.input.length)).toEqual([64, 64, 22]);
    expect(peer.requests.every((r) => r.model === 'nomic-embed-text' && r.dimensions === undefined)).toBe(
      true,
    );
    expect(vectors).toEqual(input.map(vectorOf));
    expect(await embedder.embed([])).toEqual([]);
    expect(peer.requests).toHaveLength(3);
  });

  it('learns the dimensions from the first response, or checks the configured ones', async () => {
    const peer = await startPeer();
    const learning = new OpenAiEmbedder({ baseUrl: peer.baseUrl, model: 'm' });
    expect(learning.dimensions).toBe(0);
    expect(await learning.detectDimensions()).toBe(DIMS);
    expect(learning.dimensions).toBe(DIMS);

    const wrong = new OpenAiEmbedder({ baseUrl: peer.baseUrl, model: 'm', dimensions: 384 });
    const error = await failure(wrong.embed(['a']));
    expect(error.code).toBe('EMBEDDING_FAILED');
    expect(error.message).toMatch(/expected vectors of 384 dimensions, got 8/);
  });

  it('sends the API key and, when asked, the dimensions', async () => {
    const peer = await startPeer();
    const embedder = new OpenAiEmbedder({
      baseUrl: peer.baseUrl,
      model: 'text-embedding-3-small',
      apiKey: 'sk-test',
      dimensions: DIMS,
      sendDimensions: true,
    });
    expect(embedder.id).toBe('openai:text-embedding-3-small@8');
    await embedder.embed(['a']);
    expect(peer.requests[0]).toMatchObject({ authorization: 'Bearer sk-test', dimensions: DIMS });
  });

  it('retries 429 (honouring Retry-After) and 5xx, then succeeds', async () => {
    const peer = await startPeer([
      { status: 429, headers: { 'retry-after': '0' } },
      { status: 500 },
      { status: 503 },
    ]);
    const embedder = new OpenAiEmbedder({ baseUrl: peer.baseUrl, model: 'm', retryDelayMs: 5 });
    const vectors = await embedder.embed(['hello']);
    expect(vectors).toEqual([vectorOf('hello')]);
    expect(peer.requests).toHaveLength(4);
  });

  it('waits as long as Retry-After says', async () => {
    const peer = await startPeer([{ status: 429, headers: { 'retry-after': '0.3' } }]);
    const embedder = new OpenAiEmbedder({ baseUrl: peer.baseUrl, model: 'm', retryDelayMs: 1 });
    const started = performance.now();
    await embedder.embed(['hello']);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('asks the rate limiter before every request, with the tokens it estimates, and reports each request', async () => {
    const peer = await startPeer([{ status: 503 }]);
    const limiter = new RecordingLimiter();
    const events: EmbeddingRequestEvent[] = [];
    const embedder = new OpenAiEmbedder({
      baseUrl: peer.baseUrl,
      model: 'm',
      retryDelayMs: 1,
      batchSize: 2,
      rateLimiter: limiter,
      onRequest: (event) => events.push(event),
    });
    await embedder.embed(['abcdefgh', 'ijkl', 'mnop']);
    // 'abcdefgh' + 'ijkl' are about 2 + 1 tokens; the 503 is tried again, after asking again.
    expect(limiter.acquired).toEqual([3, 3, 1]);
    expect(events.map((e) => e.status)).toEqual([503, 200, 200]);
    // The peer counts 1 token per request (`usage`): its count wins over the estimate, and the
    // limiter gets the difference back; the failed request had no count, so nothing to correct.
    expect(events.map((e) => e.tokens)).toEqual([3, 1, 1]);
    expect(limiter.adjustments).toEqual([-2]);
    expect(limiter.holds).toEqual([]);
  });

  it('on a 429, holds every process off for as long as the x-ratelimit reset says, then retries', async () => {
    const peer = await startPeer([
      {
        status: 429,
        headers: { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '150ms' },
      },
    ]);
    const limiter = new RecordingLimiter();
    const embedder = new OpenAiEmbedder({ baseUrl: peer.baseUrl, model: 'm', rateLimiter: limiter });
    expect(await embedder.embed(['hello'])).toEqual([vectorOf('hello')]);
    expect(limiter.holds).toEqual([150]);
    // The wait is the limiter's (shared), not a private sleep: asked twice, once per request.
    expect(limiter.acquired).toHaveLength(2);
  });

  it("reports a request once, as answered, when the limiter cannot take the correction (Redis's outage, not the endpoint's)", async () => {
    const peer = await startPeer();
    const outage = new SluiceError(
      'DEPENDENCY_UNAVAILABLE',
      'Redis did not answer the embeddings rate limiter',
    );
    const limiter = new RecordingLimiter();
    limiter.adjust = () => Promise.reject(outage);
    const events: EmbeddingRequestEvent[] = [];
    const embedder = new OpenAiEmbedder({
      baseUrl: peer.baseUrl,
      model: 'm',
      rateLimiter: limiter,
      onRequest: (event) => events.push(event),
    });
    await expect(embedder.embed(['abcdefgh ijklmnop'])).rejects.toBe(outage);
    expect(events.map((e) => e.status)).toEqual([200]);
    expect(peer.requests).toHaveLength(1);
  });

  it('prefers retry-after-ms, exact, to Retry-After in whole seconds', async () => {
    const peer = await startPeer([{ status: 429, headers: { 'retry-after-ms': '120', 'retry-after': '1' } }]);
    const limiter = new RecordingLimiter();
    const embedder = new OpenAiEmbedder({ baseUrl: peer.baseUrl, model: 'm', rateLimiter: limiter });
    await embedder.embed(['hello']);
    expect(limiter.holds).toEqual([120]);
  });

  it('reads x-ratelimit reset durations', () => {
    expect(parseResetDuration('20ms')).toBe(20);
    expect(parseResetDuration('1s')).toBe(1000);
    expect(parseResetDuration('6m0s')).toBe(360_000);
    expect(parseResetDuration('1h2m3.5s')).toBe(3_723_500);
    expect(parseResetDuration('soon')).toBeUndefined();
    expect(parseResetDuration(null)).toBeUndefined();
  });

  it('gives up at once when Retry-After exceeds maxRetryDelayMs', async () => {
    const peer = await startPeer([{ status: 429, headers: { 'retry-after': '120' } }]);
    const embedder = new OpenAiEmbedder({ baseUrl: peer.baseUrl, model: 'm', maxRetryDelayMs: 10_000 });
    const error = await failure(embedder.embed(['hello']));
    expect(error.code).toBe('EMBEDDING_FAILED');
    expect(error.message).toMatch(/429.*retry after 120 s/);
    expect(peer.requests).toHaveLength(1);
  });

  it('does not retry a 429 for an exhausted quota, and reports it as an outage of the endpoint', async () => {
    const peer = await startPeer([
      {
        status: 429,
        body: {
          error: {
            message: 'You exceeded your current quota, please check your plan and billing details.',
            type: 'insufficient_quota',
            code: 'insufficient_quota',
          },
        },
      },
    ]);
    const limiter = new RecordingLimiter();
    const embedder = new OpenAiEmbedder({
      baseUrl: peer.baseUrl,
      model: 'm',
      retryDelayMs: 1,
      rateLimiter: limiter,
    });
    const error = await failure(embedder.embed(['hello']));
    expect(error.code).toBe('EMBEDDING_FAILED');
    expect(error.message).toMatch(/429.*exceeded your current quota/);
    expect(error.details).toMatchObject({ status: 429, reason: 'insufficient_quota' });
    expect(peer.requests).toHaveLength(1);
    // An outage, not the job's fault: the worker hands the job back without spending an attempt.
    expect(isDependencyOutage(error)).toBe(true);
    // And every process holds off, as after any 429.
    expect(limiter.holds).toHaveLength(1);
  });

  it('stops after maxRetries with the last status', async () => {
    const peer = await startPeer([{ status: 502 }, { status: 502 }, { status: 502 }, { status: 502 }]);
    const embedder = new OpenAiEmbedder({
      baseUrl: peer.baseUrl,
      model: 'm',
      maxRetries: 2,
      retryDelayMs: 1,
    });
    const error = await failure(embedder.embed(['hello']));
    expect(error.code).toBe('EMBEDDING_FAILED');
    expect(error.details).toMatchObject({ status: 502, model: 'm' });
    expect(peer.requests).toHaveLength(3);
  });

  it.each([
    [
      400,
      { error: { message: "model 'nope' not found, try pulling it first", type: 'invalid_request_error' } },
      /400.*model 'nope' not found/,
    ],
    [401, { error: { message: 'Incorrect API key provided' } }, /401.*Incorrect API key/],
    [404, { error: 'page not found' }, /404.*page not found/],
    [422, { object: 'error', message: 'input is too long' }, /422.*input is too long/],
  ])('does not retry %i and reports the server message', async (status, body, message) => {
    const peer = await startPeer([{ status, body }]);
    const embedder = new OpenAiEmbedder({
      baseUrl: peer.baseUrl,
      model: 'nope',
      apiKey: 'sk-secret',
      retryDelayMs: 1,
    });
    const error = await failure(embedder.embed(['hello']));
    expect(error.code).toBe('EMBEDDING_FAILED');
    expect(error.message).toMatch(message);
    expect(error.details).toMatchObject({ status });
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain('sk-secret');
    expect(peer.requests).toHaveLength(1);
  });

  it('reports a wrong baseUrl as a 404', async () => {
    const peer = await startPeer();
    const embedder = new OpenAiEmbedder({ baseUrl: peer.baseUrl.replace('/v1', '/v2'), model: 'm' });
    const error = await failure(embedder.embed(['hello']));
    expect(error.message).toMatch(/404.*no route \/v2\/embeddings/);
  });

  it('rejects malformed responses', async () => {
    const cases: Step[] = [
      { embeddings: () => 'nope' },
      { embeddings: (input) => input.slice(1).map((_, index) => ({ index, embedding: [1] })) },
      { embeddings: (input) => input.map(() => ({ index: 0, embedding: [1] })) },
      { embeddings: (input) => input.map((_, index) => ({ index, embedding: index === 0 ? [1, 2] : [1] })) },
    ];
    const peer = await startPeer([...cases]);
    const embedder = new OpenAiEmbedder({ baseUrl: peer.baseUrl, model: 'm' });
    const messages: string[] = [];
    for (let i = 0; i < cases.length; i++) {
      const error = await failure(embedder.embed(['a', 'b']));
      expect(error.code).toBe('EMBEDDING_FAILED');
      messages.push(error.message);
    }
    expect(messages[0]).toMatch(/invalid response.*data/);
    expect(messages[1]).toMatch(/1 embeddings for 2 inputs/);
    expect(messages[2]).toMatch(/repeated index 0/);
    expect(messages[3]).toMatch(/expected vectors of 2 dimensions, got 1/);
    expect(peer.requests).toHaveLength(4);
  });

  it('times out a hanging request, retries it, then fails as DEPENDENCY_UNAVAILABLE', async () => {
    const peer = await startPeer(['hang', 'hang']);
    const embedder = new OpenAiEmbedder({
      baseUrl: peer.baseUrl,
      model: 'm',
      timeoutMs: 150,
      maxRetries: 1,
      retryDelayMs: 1,
    });
    const started = performance.now();
    const error = await failure(embedder.embed(['hello']));
    expect(error.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(error.message).toMatch(/did not answer within 150 ms/);
    expect(peer.requests).toHaveLength(2);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('recovers when a timed-out request succeeds on retry', async () => {
    const peer = await startPeer(['hang']);
    const embedder = new OpenAiEmbedder({
      baseUrl: peer.baseUrl,
      model: 'm',
      timeoutMs: 150,
      retryDelayMs: 1,
    });
    expect(await embedder.embed(['hello'])).toEqual([vectorOf('hello')]);
  });

  it('reports an unreachable endpoint as DEPENDENCY_UNAVAILABLE', async () => {
    const peer = await startPeer();
    await peer.close();
    const embedder = new OpenAiEmbedder({
      baseUrl: peer.baseUrl,
      model: 'm',
      maxRetries: 1,
      retryDelayMs: 1,
    });
    const error = await failure(embedder.embed(['hello']));
    expect(error.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(error.message).toMatch(/unreachable: ECONNREFUSED/);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('stops at once when the caller aborts during a request, throwing the abort reason', async () => {
    const peer = await startPeer(['hang']);
    const embedder = new OpenAiEmbedder({ baseUrl: peer.baseUrl, model: 'm', timeoutMs: 10_000 });
    const controller = new AbortController();
    const reason = new Error('preempted');
    setTimeout(() => controller.abort(reason), 100);
    const started = performance.now();
    await expect(embedder.embed(['hello'], controller.signal)).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(peer.requests).toHaveLength(1);
  });

  it('stops at once when the caller aborts during the backoff wait', async () => {
    const peer = await startPeer([{ status: 500 }]);
    const embedder = new OpenAiEmbedder({ baseUrl: peer.baseUrl, model: 'm', retryDelayMs: 20_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    await expect(embedder.embed(['hello'], controller.signal)).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(peer.requests).toHaveLength(1);
  });

  it('does not start when the signal has already aborted', async () => {
    const peer = await startPeer();
    const embedder = new OpenAiEmbedder({ baseUrl: peer.baseUrl, model: 'm' });
    await expect(embedder.embed(['a'], AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    expect(peer.requests).toHaveLength(0);
  });

  it('validates its options', () => {
    expect(() => new OpenAiEmbedder({ baseUrl: 'not a url', model: 'm' })).toThrow();
    expect(() => new OpenAiEmbedder({ baseUrl: 'http://x/v1', model: 'm', batchSize: 0 })).toThrow(
      RangeError,
    );
    expect(() => new OpenAiEmbedder({ baseUrl: 'http://x/v1', model: 'm', sendDimensions: true })).toThrow(
      /needs dimensions/,
    );
  });
});
