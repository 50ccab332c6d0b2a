import { SluiceError, parseRetryAfter } from '@sluice/core';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { estimateTokens, type EmbeddingRateLimiter, type EmbeddingRequestEvent } from './embedding-limits.js';
import type { Embedder } from './types.js';

/** Options for {@link OpenAiEmbedder}. */
export interface OpenAiEmbedderOptions {
  /**
   * The API root that `/embeddings` is appended to, e.g. `https://api.openai.com/v1` or
   * `http://ollama:11434/v1`. A trailing slash is ignored.
   */
  baseUrl: string;
  /** Model name sent with every request, e.g. `text-embedding-3-small` or `nomic-embed-text`. */
  model: string;
  /**
   * Sent as `Authorization: Bearer <apiKey>`. Never logged or put into error details.
   * @defaultValue none (no Authorization header; fine for Ollama, vLLM, TEI)
   */
  apiKey?: string;
  /**
   * Expected vector length. When set, every vector is checked against it. When not set, it is
   * learned from the first response (see {@link OpenAiEmbedder.dimensions}).
   * @defaultValue learned from the first response
   */
  dimensions?: number;
  /**
   * Also send `dimensions` in the request body, asking the model to shorten its vectors (OpenAI
   * `text-embedding-3-*` and Matryoshka models). Many servers reject the field for other models,
   * so it is off unless asked for. Requires {@link OpenAiEmbedderOptions.dimensions}.
   * @defaultValue false
   */
  sendDimensions?: boolean;
  /**
   * Texts per request.
   * @defaultValue 64
   */
  batchSize?: number;
  /**
   * Deadline of one request, body included. A request that runs past it counts as a transient
   * failure and is retried.
   * @defaultValue 30000
   */
  timeoutMs?: number;
  /**
   * Retries per batch after the first attempt, for 408, 425, 429, 5xx, network errors and
   * timeouts. Other statuses are never retried.
   * @defaultValue 5
   */
  maxRetries?: number;
  /**
   * Base of the exponential backoff: retry n waits about `retryDelayMs * 2^n` (half of it fixed,
   * half random jitter), capped at {@link OpenAiEmbedderOptions.maxRetryDelayMs}.
   * @defaultValue 500
   */
  retryDelayMs?: number;
  /**
   * Longest wait between two attempts. A `Retry-After` longer than this is not waited for: the
   * call fails at once with `EMBEDDING_FAILED`, and the job-level retry takes over.
   * @defaultValue 30000
   */
  maxRetryDelayMs?: number;
  /**
   * The endpoint's limits, shared with every other process that calls it: each request waits for
   * its turn (its estimated tokens, {@link estimateTokens}) before it is sent, and a 429 holds
   * every caller off for as long as the endpoint says (`Retry-After`, `x-ratelimit-reset-*`).
   * @defaultValue none: requests go at once, and a 429 is retried after the wait it asks for
   */
  rateLimiter?: EmbeddingRateLimiter;
  /** Told about every request once it is over, for metrics. */
  onRequest?: (event: EmbeddingRequestEvent) => void;
}

type ResolvedOptions = Required<
  Omit<OpenAiEmbedderOptions, 'apiKey' | 'dimensions' | 'rateLimiter' | 'onRequest'>
> &
  Pick<OpenAiEmbedderOptions, 'apiKey' | 'dimensions' | 'rateLimiter' | 'onRequest'>;

const responseSchema = z.object({
  usage: z
    .object({ total_tokens: z.number().int().nonnegative(), prompt_tokens: z.number().int().nonnegative() })
    .partial()
    .optional(),
  data: z.array(
    z.object({
      embedding: z.array(z.number()),
      index: z.number().int().nonnegative(),
    }),
  ),
});

/** Statuses worth another attempt: the server is overloaded, restarting or rate limiting. */
function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** The outcome of one failed attempt: the error to throw and whether to try again. */
class AttemptFailure extends Error {
  constructor(
    readonly error: SluiceError,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
    readonly status?: number,
  ) {
    super(error.message);
  }
}

/**
 * An {@link Embedder} for any OpenAI-compatible `POST {baseUrl}/embeddings` endpoint: OpenAI,
 * Azure-style proxies, Ollama, vLLM, Hugging Face TEI, LiteLLM.
 *
 * Guarantees:
 * - texts are sent in batches of `batchSize`, one batch at a time, and the vectors come back in
 *   input order (the response is reordered by its `index` field and validated with zod: one
 *   vector per input, indices 0..n-1, all of the same length);
 * - each request has its own deadline (`timeoutMs`) combined with the caller's signal;
 * - 408, 425, 429, 5xx, network errors and timeouts are retried up to `maxRetries` times with
 *   exponential backoff and jitter, honouring `Retry-After`;
 * - when the caller's signal aborts, the request or the backoff wait stops at once and the
 *   signal's `reason` is thrown as is, so preemption is never mistaken for a failure.
 *
 * Errors: an endpoint that does not answer (connection refused, reset, timeout), after the
 * retries, is `DEPENDENCY_UNAVAILABLE`. An endpoint that answers with an error is
 * `EMBEDDING_FAILED`, whose message carries the HTTP status and the server's own message and
 * whose `details` hold `{ status, model, url }`. `EMBEDDING_FAILED` is retryable at the job level
 * by the error table, so a 400 (bad model or input), 401 (bad key) or 404 (wrong `baseUrl`) is
 * not retried within the call but will be tried again by the job's attempts; its message says
 * what to fix. A malformed response is `EMBEDDING_FAILED` too.
 */
export class OpenAiEmbedder implements Embedder {
  /** `openai:<model>`, plus `@<dimensions>` when `sendDimensions` shortens the vectors. */
  readonly id: string;
  readonly #options: ResolvedOptions;
  readonly #url: string;
  #dimensions: number | undefined;

  constructor(options: OpenAiEmbedderOptions) {
    this.#options = {
      sendDimensions: false,
      batchSize: 64,
      timeoutMs: 30_000,
      maxRetries: 5,
      retryDelayMs: 500,
      maxRetryDelayMs: 30_000,
      ...stripUndefined(options),
    };
    const o = this.#options;
    if (!o.model) throw new RangeError('OpenAiEmbedder needs a model');
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${o.batchSize}`);
    }
    if (o.dimensions !== undefined && (!Number.isInteger(o.dimensions) || o.dimensions < 1)) {
      throw new RangeError(`dimensions must be a positive integer, got ${o.dimensions}`);
    }
    if (o.sendDimensions && o.dimensions === undefined) {
      throw new RangeError('sendDimensions needs dimensions');
    }
    this.#url = `${new URL(o.baseUrl).href.replace(/\/+$/, '')}/embeddings`;
    this.#dimensions = o.dimensions;
    this.id = o.sendDimensions ? `openai:${o.model}@${o.dimensions}` : `openai:${o.model}`;
  }

  /**
   * Length of every vector: the configured `dimensions`, else the length learned from the first
   * response, and `0` until then. Call {@link OpenAiEmbedder.detectDimensions} to learn it up
   * front.
   */
  get dimensions(): number {
    return this.#dimensions ?? 0;
  }

  /** Returns the vector length, embedding one short text first if it is not known yet. */
  async detectDimensions(signal?: AbortSignal): Promise<number> {
    if (this.#dimensions === undefined) await this.embed(['dimensions probe'], signal);
    return this.dimensions;
  }

  /**
   * Embeds texts in batches, one vector per text, in order.
   * @throws the signal's reason when `signal` aborts; otherwise a {@link SluiceError}
   * (`DEPENDENCY_UNAVAILABLE` or `EMBEDDING_FAILED`, see the class description)
   */
  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    const vectors: number[][] = [];
    for (let start = 0; start < texts.length; start += this.#options.batchSize) {
      signal?.throwIfAborted();
      const batch = texts.slice(start, start + this.#options.batchSize);
      vectors.push(...(await this.#embedBatch(batch, signal)));
    }
    return vectors;
  }

  async #embedBatch(texts: readonly string[], signal: AbortSignal | undefined): Promise<number[][]> {
    const o = this.#options;
    const tokens = texts.reduce((sum, text) => sum + estimateTokens(text), 0);
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const waitedMs = (await o.rateLimiter?.acquire(tokens, signal)) ?? 0;
      let outcome: { vectors: number[][]; usedTokens: number | undefined } | AttemptFailure;
      try {
        outcome = await this.#attempt(texts, signal);
      } catch (err) {
        const status = err instanceof AttemptFailure ? err.status : undefined;
        o.onRequest?.({ status, inputs: texts.length, tokens, waitedMs });
        signal?.throwIfAborted();
        if (!(err instanceof AttemptFailure)) throw err;
        outcome = err;
      }
      if (!(outcome instanceof AttemptFailure)) {
        const { vectors, usedTokens } = outcome;
        o.onRequest?.({ status: 200, inputs: texts.length, tokens: usedTokens ?? tokens, waitedMs });
        // The estimate errs high; the endpoint's count gives the difference back to the fleet. A
        // Redis error here is the limiter's, an outage like one in `acquire`, not a failed request.
        if (usedTokens !== undefined && usedTokens !== tokens)
          await o.rateLimiter?.adjust(usedTokens - tokens);
        return vectors;
      }
      const failure = outcome;
      const backoff = Math.min(o.maxRetryDelayMs, o.retryDelayMs * 2 ** attempt);
      const delay = failure.retryAfterMs ?? backoff / 2 + Math.random() * (backoff / 2);
      // Rate limited: every process holds off, not only this one (this one too, in its next acquire).
      if (failure.status === 429 && o.rateLimiter)
        await o.rateLimiter.holdOff(Math.min(delay, o.maxRetryDelayMs));
      if (!failure.retryable || attempt >= o.maxRetries) throw failure.error;
      if (failure.retryAfterMs !== undefined && failure.retryAfterMs > o.maxRetryDelayMs) {
        throw new SluiceError(
          'EMBEDDING_FAILED',
          `${failure.error.message}; the server asked to retry after ${Math.ceil(failure.retryAfterMs / 1000)} s, ` +
            `longer than maxRetryDelayMs (${o.maxRetryDelayMs} ms)`,
          { cause: failure.error, details: failure.error.details },
        );
      }
      if (failure.status === 429 && o.rateLimiter) continue;
      try {
        await sleep(delay, undefined, signal ? { signal } : undefined);
      } catch (err) {
        // timers/promises rejects with its own AbortError; the caller wants its reason.
        signal?.throwIfAborted();
        throw err;
      }
    }
  }

  async #attempt(
    texts: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<{ vectors: number[][]; usedTokens: number | undefined }> {
    const o = this.#options;
    const timeout = AbortSignal.timeout(o.timeoutMs);
    const details = { model: o.model, url: this.#url };
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
    };
    if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
    const body: Record<string, unknown> = { model: o.model, input: texts };
    if (o.sendDimensions) body.dimensions = o.dimensions;

    let status: number | undefined;
    let payload: unknown;
    let retryAfterMs: number | undefined;
    try {
      const response = await fetch(this.#url, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      status = response.status;
      retryAfterMs = retryDelayOf(response);
      const text = await response.text();
      if (!response.ok) {
        const statusLine = response.statusText ? `${status} ${response.statusText}` : String(status);
        const message = `embeddings endpoint answered ${statusLine}: ${serverMessage(text)}`;
        // OpenAI's 429 for an exhausted quota or billing limit: no retry inside the request
        // clears it (a person must), but like any 429 it is an outage of the endpoint, not the
        // job's fault: the worker hands the job back and probes again after its outage pause.
        const quota = status === 429 && serverCode(text) === 'insufficient_quota';
        throw new AttemptFailure(
          new SluiceError('EMBEDDING_FAILED', message, {
            details: { ...details, status, ...(quota ? { reason: 'insufficient_quota' } : {}) },
          }),
          isRetryableStatus(status) && !quota,
          retryAfterMs,
          status,
        );
      }
      payload = parseJson(text);
    } catch (err) {
      if (err instanceof AttemptFailure) throw err;
      if (signal?.aborted) throw signal.reason;
      const reason = timeout.aborted
        ? `embeddings endpoint did not answer within ${o.timeoutMs} ms`
        : `embeddings endpoint unreachable: ${describeNetworkError(err)}`;
      throw new AttemptFailure(
        new SluiceError('DEPENDENCY_UNAVAILABLE', `${reason} (${this.#url})`, {
          cause: err,
          details: status === undefined ? details : { ...details, status },
        }),
        true,
        undefined,
        status,
      );
    }
    return this.#validate(payload, texts.length, { ...details, status });
  }

  #validate(
    payload: unknown,
    count: number,
    details: Record<string, unknown>,
  ): { vectors: number[][]; usedTokens: number | undefined } {
    const invalid = (why: string) =>
      new AttemptFailure(
        new SluiceError('EMBEDDING_FAILED', `invalid response from the embeddings endpoint: ${why}`, {
          details,
        }),
        false,
      );
    const parsed = responseSchema.safeParse(payload);
    if (!parsed.success) throw invalid(z.prettifyError(parsed.error).replace(/\s+/g, ' '));
    const { data } = parsed.data;
    if (data.length !== count) throw invalid(`${data.length} embeddings for ${count} inputs`);
    const vectors = new Array<number[] | undefined>(count);
    for (const item of data) {
      if (item.index >= count || vectors[item.index]) throw invalid(`bad or repeated index ${item.index}`);
      vectors[item.index] = item.embedding;
    }
    const expected = this.#dimensions ?? data[0]?.embedding.length ?? 0;
    for (const vector of vectors as number[][]) {
      if (vector.length !== expected || expected === 0) {
        throw invalid(`expected vectors of ${expected} dimensions, got ${vector.length}`);
      }
    }
    this.#dimensions = expected;
    const usage = parsed.data.usage;
    return { vectors: vectors as number[][], usedTokens: usage?.total_tokens ?? usage?.prompt_tokens };
  }
}

/**
 * How long the endpoint asks to wait: `retry-after-ms` or `Retry-After`, else (OpenAI, Azure) the reset time of an
 * exhausted `x-ratelimit-*` limit, e.g. `x-ratelimit-remaining-tokens: 0` with
 * `x-ratelimit-reset-tokens: 6m0s`.
 */
function retryDelayOf(response: Response): number | undefined {
  // `retry-after-ms` (OpenAI, Azure) is exact; `Retry-After` is in whole seconds.
  const ms = Number(response.headers.get('retry-after-ms') ?? Number.NaN);
  if (Number.isFinite(ms) && ms >= 0) return Math.ceil(ms);
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
  if (retryAfter !== undefined) return retryAfter;
  const resets = (['requests', 'tokens'] as const).flatMap((kind) =>
    response.headers.get(`x-ratelimit-remaining-${kind}`) === '0'
      ? [parseResetDuration(response.headers.get(`x-ratelimit-reset-${kind}`))]
      : [],
  );
  const known = resets.filter((ms): ms is number => ms !== undefined);
  return known.length > 0 ? Math.max(...known) : undefined;
}

/** An `x-ratelimit-reset-*` duration (`20ms`, `1s`, `6m0s`, `1h2m3.5s`) in ms. */
export function parseResetDuration(value: string | null): number | undefined {
  if (!value) return undefined;
  const match =
    /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/.exec(
      value.trim(),
    );
  if (!match || match.slice(1).every((part) => part === undefined)) return undefined;
  const [h = 0, m = 0, sec = 0, ms = 0] = match.slice(1).map((part) => Number(part ?? 0));
  return Math.ceil(h * 3_600_000 + m * 60_000 + sec * 1000 + ms);
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The message in an OpenAI (`error.message`), Ollama/TEI (`error`) or vLLM (`message`) error body. */
function serverMessage(text: string): string {
  const body = parseJson(text) as { error?: unknown; message?: unknown; detail?: unknown } | undefined;
  const nested = body?.error as { message?: unknown } | undefined;
  const candidates = [nested?.message, body?.error, body?.message, body?.detail];
  const found = candidates.find((c): c is string => typeof c === 'string' && c.length > 0);
  const message = found ?? (text.trim() || 'no message');
  return message.length > 500 ? `${message.slice(0, 500)}…` : message;
}

/** The `error.code` of an OpenAI-style error body (`insufficient_quota`, `rate_limit_exceeded`). */
function serverCode(text: string): string | undefined {
  const body = parseJson(text) as { error?: { code?: unknown } } | undefined;
  return typeof body?.error?.code === 'string' ? body.error.code : undefined;
}

function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
}
