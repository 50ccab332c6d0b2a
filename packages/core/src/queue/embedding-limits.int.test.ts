import { afterEach, describe, expect, inject, it } from 'vitest';
import { uniqueName } from '../../../../test/support/names.js';
import { freePort } from '../../../../test/support/ports.js';
import { SluiceError } from '../contract/errors.js';
import { documentKeys } from './document-records.js';
import { RedisRateLimiter, RedisVectorCache } from './embedding-limits.js';
import { createRedisConnection } from './redis-connection.js';

const redisUrl = inject('redisUrl');
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** A Redis connection per "worker", all under one prefix. */
function fleet(workers: number) {
  const prefix = uniqueName('limits');
  const connections = Array.from({ length: workers }, () =>
    createRedisConnection({ url: redisUrl, role: 'worker' }),
  );
  cleanups.push(async () => {
    const keys = await connections[0]!.keys(`${prefix}:*`);
    if (keys.length) await connections[0]!.del(...keys);
    for (const connection of connections) await connection.quit();
  });
  return { prefix, connections };
}

describe('RedisRateLimiter', () => {
  it('admits a burst of 5 % of the limit, then serves every worker in turn at 95 % of it', async () => {
    const { prefix, connections } = fleet(2);
    // 600,000 tokens a minute: 10 per ms, refilled at 9.5 per ms, 30,000 of burst.
    const [a, b] = connections.map(
      (connection) => new RedisRateLimiter({ connection, prefix, tokensPerMinute: 600_000 }),
    );
    expect(await a!.acquire(30_000)).toBe(0);
    // Asked at once by two workers: each is let through when the debt before it is paid, in the
    // order they asked (times from the burst, whenever each call was made).
    const started = performance.now();
    const admitted = await Promise.all(
      [b!, a!].map(async (limiter) => {
        const askedAt = performance.now() - started;
        return askedAt + (await limiter.acquire(950));
      }),
    );
    const [first, second] = admitted.sort((x, y) => x - y);
    expect(first).toBeGreaterThanOrEqual(90);
    expect(first).toBeLessThanOrEqual(135);
    expect(second).toBeGreaterThanOrEqual(185);
    expect(second).toBeLessThanOrEqual(240);
  });

  it('never admits more than the limit allows, across workers asking at once', async () => {
    const { prefix, connections } = fleet(3);
    const limiters = connections.map(
      (connection) => new RedisRateLimiter({ connection, prefix, tokensPerMinute: 600_000 }),
    );
    const started = performance.now();
    const admitted: { at: number; tokens: number }[] = [];
    await Promise.all(
      limiters.map(async (limiter) => {
        while (performance.now() - started < 1500) {
          await limiter.acquire(2000);
          admitted.push({ at: performance.now() - started, tokens: 2000 });
        }
      }),
    );
    for (const { at } of admitted) {
      const sent = admitted.filter((x) => x.at <= at).reduce((sum, x) => sum + x.tokens, 0);
      // Burst plus refill so far, plus the clock's granularity (a few ms of refill).
      expect(sent).toBeLessThanOrEqual(30_000 + 9.5 * (at + 20));
    }
    // And it does admit that much: the limit is used, not left idle.
    const last = admitted.at(-1)!;
    const total = admitted.reduce((sum, x) => sum + x.tokens, 0);
    expect(total).toBeGreaterThanOrEqual(0.9 * (30_000 + 9.5 * last.at) - 2000 * limiters.length);
  });

  it('limits requests per minute too', async () => {
    const { prefix, connections } = fleet(1);
    const limiter = new RedisRateLimiter({ connection: connections[0]!, prefix, requestsPerMinute: 600 });
    // 600 a minute: a burst of 30, then one every ~105 ms (refilled at 95 %).
    const started = performance.now();
    for (let i = 0; i < 30; i++) expect(await limiter.acquire(0)).toBe(0);
    // However long the burst took to ask for, the next request goes ~105 ms after it began.
    const askedAt = performance.now() - started;
    const wait = await limiter.acquire(0);
    expect(askedAt + wait).toBeGreaterThanOrEqual(95);
    expect(askedAt + wait).toBeLessThanOrEqual(140);
  });

  it("holds every worker off after one worker's 429, limits or not", async () => {
    const { prefix, connections } = fleet(2);
    const [a, b] = connections.map((connection) => new RedisRateLimiter({ connection, prefix }));
    expect(await b!.acquire(100)).toBe(0);
    await a!.holdOff(300);
    const started = performance.now();
    const waited = await b!.acquire(100);
    expect(waited).toBeGreaterThanOrEqual(280);
    expect(performance.now() - started).toBeGreaterThanOrEqual(270);
  });

  it('stops waiting when the caller aborts, with its reason', async () => {
    const { prefix, connections } = fleet(1);
    const limiter = new RedisRateLimiter({ connection: connections[0]!, prefix });
    await limiter.holdOff(5000);
    const controller = new AbortController();
    const reason = new Error('preempted');
    setTimeout(() => controller.abort(reason), 50);
    await expect(limiter.acquire(1, controller.signal)).rejects.toBe(reason);
  });

  it('reports Redis not answering as DEPENDENCY_UNAVAILABLE', async () => {
    const connection = createRedisConnection({
      url: `redis://127.0.0.1:${await freePort()}`,
      role: 'producer',
    });
    cleanups.push(async () => connection.disconnect());
    const limiter = new RedisRateLimiter({ connection, prefix: 'nowhere', tokensPerMinute: 1000 });
    const err = await limiter.acquire(1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect(err).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
  });
});

describe('RedisVectorCache', () => {
  it('stores vectors as float32 and reads them back, unknown keys as undefined', async () => {
    const { prefix, connections } = fleet(1);
    const cache = new RedisVectorCache({
      connection: connections[0]!,
      prefix,
      maxBytes: 1 << 20,
      ttlMs: 60_000,
    });
    await cache.setMany([
      { key: 'a', vector: [0.5, -0.25, 1, 0] },
      { key: 'b', vector: [0.125, 0.75, -1, 2] },
    ]);
    expect(await cache.getMany(['b', 'missing', 'a'])).toEqual([
      [0.125, 0.75, -1, 2],
      undefined,
      [0.5, -0.25, 1, 0],
    ]);
  });

  it('keeps under its size bound by removing the oldest vectors, and lets vectors expire', async () => {
    const { prefix, connections } = fleet(1);
    const connection = connections[0]!;
    // Room for three 4-dimension vectors (16 bytes each, plus 200 of overhead).
    const cache = new RedisVectorCache({ connection, prefix, maxBytes: 3 * 216, ttlMs: 400 });
    for (const key of ['1', '2', '3', '4', '5']) {
      await cache.setMany([{ key, vector: [Number(key), 0, 0, 0] }]);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const found = await cache.getMany(['1', '2', '3', '4', '5']);
    expect(found.map((v) => v?.[0])).toEqual([undefined, undefined, 3, 4, 5]);
    expect(await connection.zcard(documentKeys(prefix).embeddingCacheIndex)).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await cache.getMany(['3', '4', '5'])).toEqual([undefined, undefined, undefined]);
  });
});
