import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster, Redis } from 'ioredis';
import type { WorkerConfig } from '../contract/config.js';
import { SluiceError } from '../contract/errors.js';
import { documentKeys } from './document-records.js';

/** Share of a limit the schedule spends; the rest is slack for a provider's shorter windows. */
const SUSTAINED_SHARE = 0.95;
/** How long the limiter's state outlives its last use. */
const STATE_TTL_MS = 3_600_000;

// One schedule per limit (requests, tokens) in one hash, with Redis's clock: the time from which
// the limit has room again (the "theoretical arrival time" of GCRA). A request goes at the latest
// of now, every schedule and the hold-off (a 429's Retry-After), and pushes each schedule on by
// its own cost at 95 % of the limit's rate: callers are served in the order they asked, each pays
// one round trip, and an idle limiter lets a request go at once. There is no burst: in any window
// of W seconds the endpoint sees at most 0.95 × limit × W / 60 plus one request, which is within
// the limit for every window of 10 s or more as long as a request carries at most half a second of
// the limit (the batcher's cap, `maxRequestTokens` in `@sluice/ingest`). Providers enforce
// per-minute limits over shorter windows than a minute (OpenAI says so); a bucket that saved up a
// burst would overshoot them after every pause, and be answered 429.
const LIMIT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local key = KEYS[1]
local mode = ARGV[1]
local ttl = tonumber(ARGV[5])
local share = tonumber(ARGV[6])
local function rate(limit) return limit * share / 60000 end
local function at(field) return tonumber(redis.call('HGET', key, field) or '0') end
if mode == 'hold' then
  local hold = now + tonumber(ARGV[2])
  if hold > at('hold') then redis.call('HSET', key, 'hold', tostring(hold)) end
elseif mode == 'adjust' then
  local limit = tonumber(ARGV[3])
  if limit > 0 then
    local free = math.max(now, at('tokens') + tonumber(ARGV[4]) / rate(limit))
    redis.call('HSET', key, 'tokens', tostring(free))
  end
else
  local rpm = tonumber(ARGV[2])
  local tpm = tonumber(ARGV[3])
  local go = math.max(now, at('hold'))
  if rpm > 0 then go = math.max(go, at('requests')) end
  if tpm > 0 then go = math.max(go, at('tokens')) end
  if rpm > 0 then redis.call('HSET', key, 'requests', tostring(go + 1 / rate(rpm))) end
  if tpm > 0 then redis.call('HSET', key, 'tokens', tostring(go + tonumber(ARGV[4]) / rate(tpm))) end
  redis.call('PEXPIRE', key, ttl)
  return math.ceil(go - now)
end
redis.call('PEXPIRE', key, ttl)
return 0
`;

/** Options for {@link RedisRateLimiter}. */
export interface RedisRateLimiterOptions {
  connection: Redis | Cluster;
  /** The workers' `SLUICE_PREFIX`: every process with the same prefix shares the limits. */
  prefix: string;
  /** The endpoint's requests per minute (`EMBEDDINGS_RPM`). @defaultValue none */
  requestsPerMinute?: number | undefined;
  /** The endpoint's tokens per minute (`EMBEDDINGS_TPM`). @defaultValue none */
  tokensPerMinute?: number | undefined;
}

/**
 * An embeddings endpoint's rate limits, enforced across every worker through Redis (one script
 * call per request): a schedule per limit, spent at 95 % of it with no burst, and a hold-off that
 * a 429 sets for the whole fleet. Without limits it still shares hold-offs, so that one worker's
 * 429 slows every worker down.
 *
 * Errors: Redis not answering is `DEPENDENCY_UNAVAILABLE`, an outage like any other.
 */
export class RedisRateLimiter {
  readonly #connection: Redis | Cluster;
  readonly #key: string;
  readonly #rpm: number;
  readonly #tpm: number;

  constructor(options: RedisRateLimiterOptions) {
    this.#connection = options.connection;
    this.#key = documentKeys(options.prefix).embeddingLimits;
    this.#rpm = options.requestsPerMinute ?? 0;
    this.#tpm = options.tokensPerMinute ?? 0;
  }

  /** Waits for one request of `tokens` tokens to be allowed; resolves with the ms waited. */
  async acquire(tokens: number, signal?: AbortSignal): Promise<number> {
    const waitMs = Number(
      await this.#eval('take', String(this.#rpm), String(this.#tpm), String(Math.max(0, Math.ceil(tokens)))),
    );
    if (waitMs > 0)
      await sleep(waitMs, undefined, signal ? { signal } : undefined).catch(rethrowReason(signal));
    return waitMs;
  }

  /** Holds every worker off for `ms` from now. */
  async holdOff(ms: number): Promise<void> {
    await this.#eval('hold', String(Math.max(0, Math.ceil(ms))), '0', '0');
  }

  /**
   * Corrects the token schedule by what a request really cost (the endpoint's `usage`) minus
   * what it was estimated at: a negative difference gives the surplus back to the next requests.
   */
  async adjust(tokens: number): Promise<void> {
    if (this.#tpm === 0 || tokens === 0) return;
    await this.#eval('adjust', '0', String(this.#tpm), String(Math.round(tokens)));
  }

  async #eval(mode: string, a: string, b: string, c: string): Promise<unknown> {
    try {
      return await this.#connection.eval(
        LIMIT_SCRIPT,
        1,
        this.#key,
        mode,
        a,
        b,
        c,
        String(STATE_TTL_MS),
        String(SUSTAINED_SHARE),
      );
    } catch (err) {
      throw new SluiceError(
        'DEPENDENCY_UNAVAILABLE',
        `Redis did not answer the embeddings rate limiter: ${(err as Error).message}`,
        {
          cause: err,
          details: { dependency: 'redis' },
        },
      );
    }
  }
}

/** Rejects with the caller's abort reason rather than timers/promises' own AbortError. */
function rethrowReason(signal: AbortSignal | undefined) {
  return (err: unknown): never => {
    signal?.throwIfAborted();
    throw err;
  };
}

// Stores vectors and records them in an index by time, then trims the index: entries older than
// the TTL (their keys already expired) and, beyond `max` entries, the oldest (deleted too).
const CACHE_SET_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ttl)
  redis.call('ZADD', KEYS[1], now, KEYS[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
local over = redis.call('ZCARD', KEYS[1]) - max
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[1], over)
  for i = 1, #oldest, 2 do redis.call('DEL', oldest[i]) end
end
redis.call('PEXPIRE', KEYS[1], ttl)
return over
`;

/** Options for {@link RedisVectorCache}. */
export interface RedisVectorCacheOptions {
  connection: Redis | Cluster;
  prefix: string;
  /** Most bytes of vectors kept (`EMBEDDINGS_CACHE_MB`); the oldest go first. */
  maxBytes: number;
  /** How long a vector is kept (`EMBEDDINGS_CACHE_TTL_S`, in ms here). */
  ttlMs: number;
}

/** What one cached vector costs in Redis besides its floats: key, index entry, overhead. */
const ENTRY_OVERHEAD_BYTES = 200;

/**
 * Vectors in Redis, as float32, by key (see `CachingEmbedder`): one MGET per lookup, one script
 * call per store. The total stays under `maxBytes` (the oldest entries are removed first) and each
 * entry expires after `ttlMs`, so the cache never competes with the queue for Redis memory.
 */
export class RedisVectorCache {
  readonly #o: RedisVectorCacheOptions;
  readonly #keyOf: (key: string) => string;
  readonly #index: string;

  constructor(options: RedisVectorCacheOptions) {
    this.#o = options;
    const keys = documentKeys(options.prefix);
    this.#keyOf = keys.embeddingCache;
    this.#index = keys.embeddingCacheIndex;
  }

  async getMany(keys: readonly string[]): Promise<(number[] | undefined)[]> {
    if (keys.length === 0) return [];
    const values = await this.#o.connection.mgetBuffer(...keys.map(this.#keyOf));
    return values.map((value) => {
      if (!value || value.length % 4 !== 0) return undefined;
      // A copy: a Buffer may sit at any offset of a shared pool, a Float32Array may not.
      return Array.from(new Float32Array(new Uint8Array(value).buffer));
    });
  }

  async setMany(entries: readonly { key: string; vector: readonly number[] }[]): Promise<void> {
    if (entries.length === 0) return;
    const bytesPerEntry = (entries[0]?.vector.length ?? 0) * 4 + ENTRY_OVERHEAD_BYTES;
    const max = Math.max(1, Math.floor(this.#o.maxBytes / bytesPerEntry));
    await this.#o.connection.eval(
      CACHE_SET_SCRIPT,
      entries.length + 1,
      this.#index,
      ...entries.map((e) => this.#keyOf(e.key)),
      String(this.#o.ttlMs),
      String(max),
      ...entries.map((e) => Buffer.from(new Float32Array(e.vector).buffer)),
    );
  }
}

/** The settings {@link embedderExtras} reads. */
export type EmbeddingLimitsConfig = Pick<
  WorkerConfig,
  | 'EMBEDDINGS'
  | 'SLUICE_PREFIX'
  | 'EMBEDDINGS_RPM'
  | 'EMBEDDINGS_TPM'
  | 'EMBEDDINGS_CACHE_MB'
  | 'EMBEDDINGS_CACHE_TTL_S'
>;

/**
 * The Redis-backed parts of an endpoint embedder for `createEmbedder` (`@sluice/ingest`): the
 * fleet's rate limiter (always, so that a 429 holds every process off) and, when
 * `EMBEDDINGS_CACHE_MB` > 0, the vector cache. Nothing for the in-process hash embedder.
 */
export function embedderExtras(
  config: EmbeddingLimitsConfig,
  connection: Redis | Cluster,
): { rateLimiter?: RedisRateLimiter; cache?: RedisVectorCache } {
  if (config.EMBEDDINGS !== 'openai') return {};
  const prefix = config.SLUICE_PREFIX;
  return {
    rateLimiter: new RedisRateLimiter({
      connection,
      prefix,
      requestsPerMinute: config.EMBEDDINGS_RPM,
      tokensPerMinute: config.EMBEDDINGS_TPM,
    }),
    ...(config.EMBEDDINGS_CACHE_MB > 0
      ? {
          cache: new RedisVectorCache({
            connection,
            prefix,
            maxBytes: config.EMBEDDINGS_CACHE_MB * 1024 * 1024,
            ttlMs: config.EMBEDDINGS_CACHE_TTL_S * 1000,
          }),
        }
      : {}),
  };
}
