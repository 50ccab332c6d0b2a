import { abortReason, sleep } from './abort.js';

/** How transient failures are retried. */
export interface RetryOptions {
  /** Attempts in all, the first included; 1 turns retries off. @defaultValue 5 */
  attempts?: number;
  /** Delay before the first retry; it doubles with each further one. @defaultValue 200 */
  baseDelayMs?: number;
  /** Upper bound of one delay (a server's `Retry-After` included). @defaultValue 5000 */
  maxDelayMs?: number;
}

/** {@link RetryOptions} with every default applied. */
export type ResolvedRetryOptions = Readonly<Required<RetryOptions>>;

/** Applies the defaults of {@link RetryOptions}. */
export function resolveRetryOptions(options: RetryOptions = {}): ResolvedRetryOptions {
  return Object.freeze({
    attempts: Math.max(1, Math.floor(options.attempts ?? 5)),
    baseDelayMs: Math.max(0, options.baseDelayMs ?? 200),
    maxDelayMs: Math.max(0, options.maxDelayMs ?? 5000),
  });
}

/**
 * HTTP statuses of a gateway (or of the API itself) that is briefly away: a rolling update, a
 * restart.
 */
export const GATEWAY_HTTP_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * HTTP statuses worth another attempt: the gateway ones, and 429 (the API's rate limit: the
 * retry waits for its `Retry-After`). Every other 4xx is final, and so is any other 5xx.
 */
export const TRANSIENT_HTTP_STATUSES: ReadonlySet<number> = new Set([...GATEWAY_HTTP_STATUSES, 429]);

/**
 * Socket-level failures worth another attempt: the request got no answer. `ENOTFOUND` is not
 * here, since a wrong host name does not fix itself.
 */
export const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
]);

/**
 * The first `code` found on an error or its `cause` chain (undici wraps socket errors as
 * `TypeError('fetch failed', { cause })`).
 */
export function networkErrorCode(err: unknown): string | undefined {
  for (let current = err, depth = 0; typeof current === 'object' && current !== null && depth < 5; depth++) {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === 'string') return code;
    current = cause;
  }
  return undefined;
}

/**
 * Delay before retry number `retry` (1 for the first): exponential, capped, with "equal jitter"
 * (half fixed, half random) so that clients that failed together do not come back together.
 */
export function backoffDelay(
  retry: number,
  options: ResolvedRetryOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** How {@link withRetry} decides. */
export interface RetryPolicy {
  options: ResolvedRetryOptions;
  /** Whether a failure is worth another attempt; may name a minimum delay (`Retry-After`). */
  transient: (err: unknown) => boolean | { afterMs: number };
  /** Stops retrying (and waiting) at once; the signal's reason is thrown. */
  signal?: AbortSignal | undefined;
  /** Told about each retry before its delay (for logs and tests). */
  onRetry?: (info: { retry: number; delayMs: number; error: unknown }) => void;
}

/**
 * Runs `attempt` until it succeeds, fails with a non-transient error, or runs out of attempts;
 * then the last error is thrown unchanged. Only safe for requests that can be repeated, which
 * every Sluice request is: ingest job IDs are derived from the content, so a repeated ingest
 * finds the job the first one created.
 */
export async function withRetry<T>(attempt: (n: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (policy.signal?.aborted) throw abortReason(policy.signal);
      const verdict = n < policy.options.attempts ? policy.transient(err) : false;
      if (verdict === false) throw err;
      const floor = verdict === true ? 0 : Math.min(verdict.afterMs, policy.options.maxDelayMs);
      const delayMs = Math.max(floor, backoffDelay(n, policy.options));
      policy.onRetry?.({ retry: n, delayMs, error: err });
      await sleep(delayMs, policy.signal);
    }
  }
}
