import { describe, expect, it } from 'vitest';
import { BatchingEmbedder } from './batching-embedder.js';
import { estimateTokens, maxRequestTokens } from './embedding-limits.js';
import { HashEmbedder } from './hash-embedder.js';
import type { Embedder } from './types.js';

/** The real hash embedder behind a slow "endpoint": records each request and can be held. */
class SlowEndpoint implements Embedder {
  readonly inner = new HashEmbedder({ dimensions: 16 });
  readonly id = this.inner.id;
  readonly dimensions = this.inner.dimensions;
  readonly requests: string[][] = [];
  readonly signals: AbortSignal[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly delayMs = 30) {}
  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    this.requests.push([...texts]);
    if (signal) this.signals.push(signal);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, this.delayMs);
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signal.reason as Error);
        });
      });
      return await this.inner.embed(texts);
    } finally {
      this.inFlight -= 1;
    }
  }
}

const texts = (job: string, n: number) => Array.from({ length: n }, (_, i) => `text ${i} of job ${job}`);

describe('BatchingEmbedder', () => {
  it('shares requests between concurrent callers, each getting exactly its own vectors', async () => {
    const endpoint = new SlowEndpoint();
    const batcher = new BatchingEmbedder(endpoint, { maxInputs: 100, maxTokens: 100_000 });
    const jobs = ['a', 'b', 'c', 'd', 'e'].map((job) => texts(job, 10));
    const results = await Promise.all(jobs.map((t) => batcher.embed(t)));
    // The first caller goes alone; the four that came while it ran share the next request.
    expect(endpoint.requests.map((r) => r.length)).toEqual([10, 40]);
    for (const [i, job] of jobs.entries()) expect(results[i]).toEqual(await endpoint.inner.embed(job));
    expect(batcher.id).toBe(endpoint.id);
    expect(batcher.dimensions).toBe(16);
  });

  it('keeps every request within maxInputs and maxTokens, splitting a large call', async () => {
    const endpoint = new SlowEndpoint(5);
    const tokensOf = (t: readonly string[]) => t.reduce((sum, text) => sum + estimateTokens(text), 0);
    const maxTokens = tokensOf(texts('x', 25));
    const batcher = new BatchingEmbedder(endpoint, { maxInputs: 30, maxTokens });
    const big = texts('big', 95);
    const [vectors] = await Promise.all([batcher.embed(big), batcher.embed(texts('small', 7))]);
    expect(vectors).toEqual(await endpoint.inner.embed(big));
    for (const request of endpoint.requests) {
      expect(request.length).toBeLessThanOrEqual(30);
      expect(tokensOf(request)).toBeLessThanOrEqual(maxTokens);
    }
    expect(endpoint.requests.flat().sort()).toEqual([...big, ...texts('small', 7)].sort());
  });

  it('keeps up to `concurrency` requests in flight', async () => {
    const endpoint = new SlowEndpoint(40);
    const batcher = new BatchingEmbedder(endpoint, { maxInputs: 10, maxTokens: 100_000, concurrency: 3 });
    await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((job) => batcher.embed(texts(job, 10))));
    expect(endpoint.maxInFlight).toBe(3);
  });

  it('lets an aborted caller go at once, and cancels a request only when no caller needs it', async () => {
    const endpoint = new SlowEndpoint(200);
    const batcher = new BatchingEmbedder(endpoint, { maxInputs: 100, maxTokens: 100_000 });
    // Two callers share the second request; the first one blocks the way meanwhile.
    const first = batcher.embed(texts('first', 2));
    const leaving = new AbortController();
    const staying = batcher.embed(texts('staying', 2));
    const left = batcher.embed(texts('leaving', 2), leaving.signal);
    await first;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reason = new Error('preempted');
    leaving.abort(reason);
    // It leaves before the request it shared has answered: no timing, just which settles first.
    const firstSettled = await Promise.race([
      left.then(
        () => 'left resolved',
        (err: unknown) => (err === reason ? 'left rejected with its reason' : 'left rejected otherwise'),
      ),
      staying.then(() => 'the shared request answered first'),
    ]);
    expect(firstSettled).toBe('left rejected with its reason');
    // The shared request went on for the caller still waiting.
    expect(await staying).toEqual(await endpoint.inner.embed(texts('staying', 2)));
    expect(endpoint.signals[1]?.aborted).toBe(false);

    // Alone in its request, an aborted caller takes the request down with it.
    const alone = new AbortController();
    const call = batcher.embed(texts('alone', 2), alone.signal);
    await new Promise((resolve) => setTimeout(resolve, 20));
    alone.abort(reason);
    await expect(call).rejects.toBe(reason);
    expect(endpoint.signals.at(-1)?.aborted).toBe(true);
  });

  it('passes a failure of the request to every caller in it', async () => {
    const failing: Embedder = {
      id: 'failing',
      dimensions: 4,
      embed: () => Promise.reject(new Error('endpoint down')),
    };
    const batcher = new BatchingEmbedder(failing, { maxInputs: 10, maxTokens: 1000 });
    const calls = [batcher.embed(['a']), batcher.embed(['b']), batcher.embed(['c'])];
    for (const call of calls) await expect(call).rejects.toThrow('endpoint down');
  });

  it('validates its options', () => {
    const endpoint = new SlowEndpoint();
    expect(() => new BatchingEmbedder(endpoint, { maxInputs: 0, maxTokens: 10 })).toThrow(/maxInputs/);
    expect(() => new BatchingEmbedder(endpoint, { maxInputs: 1, maxTokens: 10, concurrency: 1.5 })).toThrow(
      /concurrency/,
    );
  });
});

describe('maxRequestTokens', () => {
  it('caps a request at half a second of the token limit, never above the configured size', () => {
    // OpenAI tier 1 (1,000,000 TPM): 8,333 tokens, below the default 100,000.
    expect(maxRequestTokens(1_000_000, 100_000)).toBe(8333);
    expect(maxRequestTokens(100_000_000, 100_000)).toBe(100_000);
    expect(maxRequestTokens(undefined, 100_000)).toBe(100_000);
    // A tiny limit still lets one text through per request.
    expect(maxRequestTokens(60, 100_000)).toBe(1);
  });
});
