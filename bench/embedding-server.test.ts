/**
 * The benchmark's embeddings server: OpenAI's answer shape (also through the OpenAI SDK, which
 * asks for base64), its input limits, and its RPM/TPM limits with OpenAI's headers, on windows of
 * a second or less so that the file runs in a few seconds.
 */
import { HashEmbedder } from '@sluice/ingest';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import {
  estimateTokens,
  formatResetDuration,
  startEmbeddingServer,
  type EmbeddingServerOptions,
} from './embedding-server.js';
import { SlidingWindow } from './sliding-window.js';

const fast: EmbeddingServerOptions = { latencyMs: [0, 0], perTokenMs: 0, rejectLatencyMs: 0 };

async function embed(baseUrl: string, body: unknown, key: string | null = 'bench') {
  const response = await fetch(`${baseUrl}/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

/** A text of exactly `tokens` tokens by the server's estimate. */
const text = (tokens: number, word = 'pod ') => word.repeat(tokens).slice(0, tokens * 4);

describe('formatResetDuration', () => {
  it('writes durations as OpenAI does', () => {
    expect(formatResetDuration(0)).toBe('0s');
    expect(formatResetDuration(19.2)).toBe('20ms');
    expect(formatResetDuration(1000)).toBe('1s');
    expect(formatResetDuration(1500)).toBe('1.5s');
    expect(formatResetDuration(360_000)).toBe('6m0s');
    expect(formatResetDuration(3_723_000)).toBe('1h2m3s');
  });
});

describe('SlidingWindow', () => {
  it('gives each spending back one window after it was made', () => {
    const w = new SlidingWindow(10, 1000);
    w.spend(6, 0);
    w.spend(4, 500);
    expect(w.remaining(600)).toBe(0);
    expect(w.waitFor(5, 600)).toBe(400); // the 6 of t=0 come back at t=1000
    expect(w.waitFor(7, 600)).toBe(900); // needs the 4 of t=500 as well
    expect(w.waitFor(11, 600)).toBe(Infinity);
    expect(w.resetIn(600)).toBe(900);
    expect(w.remaining(1000)).toBe(6);
    expect(w.remaining(1500)).toBe(10);
  });
});

describe('embedding server', () => {
  it("answers in OpenAI's shape with HashEmbedder vectors, also as base64 through the OpenAI SDK", async () => {
    await using server = await startEmbeddingServer(fast);
    const r = await embed(server.baseUrl, { model: 'bench', input: ['a pod', 'a node'] });
    expect(r.status).toBe(200);
    const hash = new HashEmbedder({ dimensions: 384 });
    expect(r.body).toEqual({
      object: 'list',
      model: 'bench',
      data: [
        { object: 'embedding', index: 0, embedding: hash.embedOne('a pod') },
        { object: 'embedding', index: 1, embedding: hash.embedOne('a node') },
      ],
      usage: { prompt_tokens: 4, total_tokens: 4 },
    });

    const client = new OpenAI({ baseURL: server.baseUrl, apiKey: 'bench', maxRetries: 0 });
    const sdk = await client.embeddings.create({ model: 'bench', input: 'a pod', dimensions: 64 });
    const expected = new HashEmbedder({ dimensions: 64 }).embedOne('a pod');
    expect(sdk.data[0]!.embedding).toHaveLength(64);
    sdk.data[0]!.embedding.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 6));

    expect(server.stats()).toMatchObject({ requests: 2, succeeded: 2, tokens: 6, inputs: 3, badRequests: 0 });
  });

  it('rejects what OpenAI rejects with 400 (input limits) and 401 (no key)', async () => {
    await using server = await startEmbeddingServer(fast);
    expect((await embed(server.baseUrl, { model: 'bench', input: 'x' }, null)).status).toBe(401);
    expect((await embed(server.baseUrl, { model: 'bench', input: Array(2049).fill('x') })).status).toBe(400);
    expect((await embed(server.baseUrl, { model: 'bench', input: [] })).status).toBe(400);
    expect((await embed(server.baseUrl, { model: 'bench', input: ['x', ''] })).status).toBe(400);
    expect((await embed(server.baseUrl, { model: 'bench', input: text(8193) })).status).toBe(400);
    const tooMany = await embed(server.baseUrl, { model: 'bench', input: Array(37).fill(text(8192)) });
    expect(tooMany.status).toBe(400);
    expect(JSON.stringify(tooMany.body)).toContain('300000');
    expect((await embed(server.baseUrl, { input: 'x' })).status).toBe(400);
    expect(server.stats()).toMatchObject({ requests: 7, succeeded: 0, badRequests: 7, tokens: 0 });
  });

  it('enforces TPM over its window with 429, Retry-After and the x-ratelimit headers', async () => {
    // 20,000 TPM over a 3 s window: 1,000 tokens per window (long enough that the requests below
    // share one window on a loaded machine).
    await using server = await startEmbeddingServer({ ...fast, rpm: 2000, tpm: 20_000, windowSeconds: 3 });
    const first = await embed(server.baseUrl, { model: 'bench', input: text(400) });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit-tokens')).toBe('20000');
    expect(first.headers.get('x-ratelimit-remaining-tokens')).toBe('600');
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('2000');
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('99');
    expect(first.headers.get('x-ratelimit-reset-tokens')).toMatch(/^(\d+ms|[1-3](\.\d+)?s)$/);
    expect((await embed(server.baseUrl, { model: 'bench', input: [text(200), text(200)] })).status).toBe(200);

    const refused = await embed(server.baseUrl, { model: 'bench', input: text(400) });
    expect(refused.status).toBe(429);
    const waitMs = Number(refused.headers.get('retry-after-ms'));
    expect(waitMs).toBeGreaterThan(0);
    expect(waitMs).toBeLessThanOrEqual(3000);
    expect(refused.headers.get('retry-after')).toBe(String(Math.ceil(waitMs / 1000)));
    expect(refused.headers.get('x-ratelimit-remaining-tokens')).toBe('200');
    expect(refused.headers.get('x-ratelimit-reset-tokens')).toMatch(/^(\d+ms|[1-3](\.\d+)?s)$/);
    expect(JSON.stringify(refused.body)).toContain('rate_limit_exceeded');
    // The refusal spent a request, not tokens.
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('97');

    await new Promise((r) => setTimeout(r, waitMs + 5));
    expect((await embed(server.baseUrl, { model: 'bench', input: text(400) })).status).toBe(200);

    // More tokens than a whole window holds: never admitted, no Retry-After.
    const tooLarge = await embed(server.baseUrl, { model: 'bench', input: text(1001) });
    expect(tooLarge.status).toBe(429);
    expect(tooLarge.headers.get('retry-after')).toBeNull();

    expect(server.stats()).toMatchObject({
      requests: 5,
      succeeded: 3,
      tokens: 1200,
      rateLimited: { total: 2, tokens: 1, requests: 0, tooLarge: 1 },
      refusedTokens: 1401,
    });
  });

  it('enforces RPM over its window', async () => {
    // 24 RPM over a 5 s window: 2 requests per window.
    await using server = await startEmbeddingServer({ ...fast, rpm: 24, windowSeconds: 5 });
    expect((await embed(server.baseUrl, { model: 'bench', input: 'a' })).status).toBe(200);
    expect((await embed(server.baseUrl, { model: 'bench', input: 'b' })).status).toBe(200);
    const refused = await embed(server.baseUrl, { model: 'bench', input: 'c' });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('24');
    expect(JSON.stringify(refused.body)).toContain('requests per min (RPM)');
    expect(server.stats().rateLimited).toEqual({ total: 1, requests: 1, tokens: 0, tooLarge: 0 });
  });

  it('holds an admitted request back for its seeded latency plus its per-token time', async () => {
    await using server = await startEmbeddingServer({ latencyMs: [100, 300], perTokenMs: 1 });
    const started = performance.now();
    expect((await embed(server.baseUrl, { model: 'bench', input: text(50) })).status).toBe(200);
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(150);
    expect(ms).toBeLessThan(1000);
    expect(estimateTokens('12345')).toBe(2);
  });
});
