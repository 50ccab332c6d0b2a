/**
 * The seams between an embedder and the rest of a fleet: a rate limiter shared by every process
 * that calls one endpoint, a vector cache, and what each request reports for metrics. The
 * implementations that keep state in Redis live in `@sluice/core/queue`; this library only
 * defines what it needs.
 */

/** Shares an embeddings endpoint's request and token limits across every process that calls it. */
export interface EmbeddingRateLimiter {
  /**
   * Waits until one more request carrying `tokens` tokens may be sent, and counts it.
   * @returns how long it waited, in ms
   * @throws the signal's reason when `signal` aborts while it waits
   */
  acquire(tokens: number, signal?: AbortSignal): Promise<number>;
  /** Holds every caller off for `ms` from now: the endpoint answered 429 and said how long. */
  holdOff(ms: number): Promise<void>;
  /**
   * Corrects the count by `tokens` (what a request really cost minus what it was estimated at;
   * negative gives tokens back).
   */
  adjust(tokens: number): Promise<void>;
}

/** Vectors by key, shared across processes, bounded in size. */
export interface VectorCache {
  /** The vector stored under each key, or undefined. */
  getMany(keys: readonly string[]): Promise<(number[] | undefined)[]>;
  /** Stores vectors under their keys. */
  setMany(entries: readonly { key: string; vector: readonly number[] }[]): Promise<void>;
}

/** One embeddings request as it went, for metrics. */
export interface EmbeddingRequestEvent {
  /** The HTTP status, or undefined when no answer came (network error, timeout, abort). */
  status: number | undefined;
  /** Texts in the request. */
  inputs: number;
  /** Tokens: the endpoint's count when it answered with one, else the estimate. */
  tokens: number;
  /** Time spent waiting for the rate limiter before it was sent. */
  waitedMs: number;
}

/**
 * Tokens a text is likely to cost, erring high: about four characters per token for ASCII
 * (English text and code), one per other character (CJK and most other scripts take one or
 * more characters per token). Used to stay within token limits before the endpoint counts.
 */
export function estimateTokens(text: string): number {
  let ascii = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 128) ascii += 1;
  return Math.ceil(ascii / 4) + (text.length - ascii);
}

/**
 * The most tokens one request may carry for the limiter to keep within a token limit of `tpm`
 * (half a second of it: the fleet's limiter, `RedisRateLimiter` in `@sluice/core/queue`, spends
 * 95 % of a limit with no burst, which keeps within windows of 10 s or more only if no request
 * carries more than the other 5 % of such a window), or `fallback` when there is no limit or it
 * is smaller.
 */
export function maxRequestTokens(tpm: number | undefined, fallback: number): number {
  if (tpm === undefined) return fallback;
  return Math.max(1, Math.min(fallback, Math.floor(tpm / 120)));
}
