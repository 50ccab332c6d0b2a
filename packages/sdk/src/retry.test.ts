import { describe, expect, it } from 'vitest';
import { backoffDelay, networkErrorCode, resolveRetryOptions, withRetry } from './retry.js';

const options = resolveRetryOptions({ attempts: 4, baseDelayMs: 100, maxDelayMs: 300 });

describe('backoffDelay', () => {
  it('doubles its ceiling per retry up to maxDelayMs, with half of it random', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, options, () => 0))).toEqual([50, 100, 150, 150]);
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, options, () => 1))).toEqual([100, 200, 300, 300]);
  });
});

describe('networkErrorCode', () => {
  it("finds undici's socket code on the cause chain", () => {
    const err = new TypeError('fetch failed', {
      cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }),
    });
    expect(networkErrorCode(err)).toBe('ECONNRESET');
    expect(networkErrorCode(new Error('plain'))).toBeUndefined();
  });
});

describe('withRetry', () => {
  const fast = resolveRetryOptions({ attempts: 3, baseDelayMs: 1, maxDelayMs: 2 });

  it('retries transient failures up to the attempt limit, then throws the last one', async () => {
    let calls = 0;
    const err = await withRetry(
      async () => {
        calls++;
        throw new Error(`failure ${calls}`);
      },
      { options: fast, transient: () => true },
    ).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect((err as Error).message).toBe('failure 3');
  });

  it('throws a non-transient failure at once', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new Error('final');
        },
        { options: fast, transient: () => false },
      ),
    ).rejects.toThrow('final');
    expect(calls).toBe(1);
  });

  it("stops during a backoff when the signal aborts, with the signal's reason", async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const slow = resolveRetryOptions({ attempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000 });
    const started = Date.now();
    setTimeout(() => controller.abort(reason), 50);
    await expect(
      withRetry(
        async () => {
          throw new Error('transient');
        },
        { options: slow, transient: () => true, signal: controller.signal },
      ),
    ).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
