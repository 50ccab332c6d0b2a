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
