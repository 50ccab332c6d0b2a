import { afterEach, describe, expect, inject, it } from 'vitest';
import { uniqueName } from '../../../../test/support/names.js';
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
  it('lets a request go at once when idle, then serves every worker in turn at 95 % of the limit', async () => {
    const { prefix, connections } = fleet(2);
    // 600,000 tokens a minute: 10 per ms, spent at 9.5 per ms.
    const [a, b] = connections.map(
      (connection) => new RedisRateLimiter({ connection, prefix, tokensPerMinute: 600_000 }),
    );
    // Connected first, so that the timings below are the limiter's, not the connection's.
    await Promise.all(connections.map((connection) => connection.ping()));
    const started = performance.now();
    expect(await a!.acquire(950)).toBe(0);
    // Asked at once by two workers after the first request: each goes when the ones before it
    // are paid for (100 ms per 950 tokens), in the order they asked; no burst was saved up.
    // Times are when each acquire returned, on this clock: a timer is late, never early, so the
    // lower bounds hold on any machine; the upper ones allow a loaded machine's lateness.
    const admitted = await Promise.all(
      [b!, a!].map(async (limiter) => {
        await limiter.acquire(950);
        return performance.now() - started;
      }),
    );
    const [first, second] = admitted.sort((x, y) => x - y);
    expect(first).toBeGreaterThanOrEqual(98);
    expect(first).toBeLessThanOrEqual(400);
    expect(second).toBeGreaterThanOrEqual(198);
    expect(second).toBeLessThanOrEqual(500);
  });

  it('never admits more than 95 % of the limit plus one request in any window, across workers asking at once', async () => {
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
    admitted.sort((x, y) => x.at - y.at);
    for (const from of admitted) {
      for (const to of admitted) {
        if (to.at < from.at) continue;
        const sent = admitted
          .filter((x) => x.at >= from.at && x.at <= to.at)
          .reduce((sum, x) => sum + x.tokens, 0);
        // 9.5 tokens per ms over the window, one request, and a loaded machine's timer lateness
        // (a late timer bunches two requests together: one more request, 50 ms).
        expect(sent).toBeLessThanOrEqual(9.5 * (to.at - from.at + 50) + 2 * 2000);
      }
    }
    // And it does admit that much: the limit is used, not left idle.
    const last = admitted.at(-1)!;
    const total = admitted.reduce((sum, x) => sum + x.tokens, 0);
    expect(total).toBeGreaterThanOrEqual(0.9 * 9.5 * last.at);
  });

  it('limits requests per minute too', async () => {
    const { prefix, connections } = fleet(1);
    const limiter = new RedisRateLimiter({ connection: connections[0]!, prefix, requestsPerMinute: 600 });
    // 600 a minute, spent at 95 %: one request every ~105 ms, the first at once.
    await connections[0]!.ping();
    const started = performance.now();
    expect(await limiter.acquire(0)).toBe(0);
    // The i-th request returns no sooner than i slots after the start (timers are never early).
    for (let i = 1; i <= 3; i++) {
      await limiter.acquire(0);
      expect(performance.now() - started).toBeGreaterThanOrEqual(i * 105 - 2);
    }
    expect(performance.now() - started).toBeLessThanOrEqual(3 * 105 + 400);
  });

  it('gives tokens back when the endpoint counted fewer than estimated', async () => {
    const { prefix, connections } = fleet(1);
    const limiter = new RedisRateLimiter({ connection: connections[0]!, prefix, tokensPerMinute: 600_000 });
    await connections[0]!.ping();
    const started = performance.now();
    expect(await limiter.acquire(9500)).toBe(0);
    // 9,500 tokens booked a second ahead; the endpoint said 950: the next waits ~100 ms, not ~1 s.
    await limiter.adjust(950 - 9500);
    const wait = await limiter.acquire(10);
    expect(wait).toBeLessThanOrEqual(110);
    // More than estimated (4,750 tokens: 500 ms) pushes the next request back, to ~600 ms after
    // the first; measured on this clock, so a slow machine's round trips do not shorten it.
    await limiter.adjust(4750);
    expect(await limiter.acquire(10)).toBeGreaterThan(0);
    expect(performance.now() - started).toBeGreaterThanOrEqual(598);
  });

  it("holds every worker off after one worker's 429, limits or not", async () => {
    const { prefix, connections } = fleet(2);
    const [a, b] = connections.map((connection) => new RedisRateLimiter({ connection, prefix }));
    expect(await b!.acquire(100)).toBe(0);
    const started = performance.now();
    await a!.holdOff(300);
    expect(await b!.acquire(100)).toBeGreaterThan(0);
    expect(performance.now() - started).toBeGreaterThanOrEqual(298);
  });

  it('saves no burst during a hold-off: the requests after it are spaced as before', async () => {
    const { prefix, connections } = fleet(2);
    const [a, b] = connections.map(
      (connection) => new RedisRateLimiter({ connection, prefix, requestsPerMinute: 600 }),
    );
    await Promise.all(connections.map((connection) => connection.ping()));
    const started = performance.now();
    await a!.holdOff(300);
    const admitted = await Promise.all(
      [a!, b!, a!].map(async (limiter) => {
        await limiter.acquire(0);
        return performance.now() - started;
      }),
    );
    admitted.sort((x, y) => x - y);
    // The first at the hold's end, each next one slot (~105 ms) later: nothing was saved up.
    admitted.forEach((at, i) => expect(at).toBeGreaterThanOrEqual(300 + i * 105 - 2));
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
      url: 'redis://127.0.0.1:1', // nothing listens on port 1
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
    const cache = new RedisVectorCache({ connection, prefix, maxBytes: 3 * 216, ttlMs: 1500 });
    for (const key of ['1', '2', '3', '4', '5']) {
      await cache.setMany([{ key, vector: [Number(key), 0, 0, 0] }]);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const found = await cache.getMany(['1', '2', '3', '4', '5']);
    expect(found.map((v) => v?.[0])).toEqual([undefined, undefined, 3, 4, 5]);
    expect(await connection.zcard(documentKeys(prefix).embeddingCacheIndex)).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect(await cache.getMany(['3', '4', '5'])).toEqual([undefined, undefined, undefined]);
  });
});
