import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_PREFIX } from '../contract/config.js';
import { SluiceError } from '../contract/errors.js';
import {
  documentField,
  documentKeys,
  indexedRecordSchema,
  parseRecord,
  type IndexedRecord,
} from './document-records.js';

// Takes a document for one attempt of its latest submission's job: refused when another job is
// now the latest (superseded) or another attempt holds the lock. One round trip also answers
// what the document has indexed.
const ACQUIRE = `
local latest = redis.call('HGET', KEYS[1], ARGV[1])
if not latest or cjson.decode(latest).jobId ~= ARGV[2] then return {'superseded', ''} end
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[3] then return {'locked', ''} end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return {'acquired', redis.call('HGET', KEYS[3], ARGV[5]) or ''}
`;
// 0: the lock is not ours any more; 1: ours, but another job is the latest now; 2: ours and current.
const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local latest = redis.call('HGET', KEYS[2], ARGV[3])
if latest and cjson.decode(latest).jobId == ARGV[4] then return 2 end
return 1
`;
// Records what the document now holds (or, for a removal, that it holds nothing) and releases,
// only while the lock is still this attempt's.
const COMMIT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[2], ARGV[2]) else
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[4])
end
redis.call('DEL', KEYS[1])
return 1
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Options for {@link DocumentLock}. */
export interface DocumentLockOptions {
  connection: Redis | Cluster;
  /** @defaultValue `sluice` */
  prefix?: string;
  /**
   * How long the lock outlives its holder's last renewal; renewed every quarter of it. A holder
   * that died leaves its document blocked for at most this long.
   * @defaultValue 10000
   */
  ttlMs?: number;
}

/**
 * A held document: a lease, fenced by the attempt's token. The holder may write to the
 * document's chunks only while {@link DocumentLease.signal} is not aborted.
 */
export interface DocumentLease {
  /** The fencing token of the attempt that holds the lock. */
  readonly token: string;
  /**
   * Aborted when the lease is lost: a renewal found the lock taken, or no renewal was confirmed
   * before the lease ran out (its end comes a safety margin before the lock can expire in
   * Redis, so a holder cut off from Redis stops writing before anyone else can take over).
   */
  readonly signal: AbortSignal;
  /** One round trip: whether this attempt still holds the lock and its job is still the latest. Renews the lease. */
  isCurrent(): Promise<boolean>;
  /**
   * Records what the document now holds (`null` after a removal) and releases, in one step
   * fenced by the token.
   * @throws SluiceError `PREEMPTED` when the lock is no longer this attempt's: nothing is recorded
   */
  commit(record: IndexedRecord | null): Promise<void>;
  /** Releases without recording anything (a no-op once the lock is not this attempt's). */
  release(): Promise<void>;
}

/** What {@link DocumentLock.acquire} found. */
export type AcquireResult =
  | { readonly state: 'acquired'; readonly lease: DocumentLease; readonly indexed: IndexedRecord | undefined }
  | { readonly state: 'superseded' }
  | { readonly state: 'locked' };

/** Thrown into the lease's signal when the lease is lost. */
export class LeaseLostError extends SluiceError {
  constructor(detail: string) {
    super('PREEMPTED', `the document's lease was lost: ${detail}`);
  }
}

/**
 * One attempt at a time per document, so that versions processed concurrently cannot interleave
 * their writes and deletions, and so that a stalled twin of a job (an older attempt that lost its
 * BullMQ lock but still runs) cannot write alongside the live one: the lock holds the attempt's
 * fencing token, not the job ID.
 */
export class DocumentLock {
  readonly #connection: Redis | Cluster;
  readonly #keys: ReturnType<typeof documentKeys>;
  readonly #ttlMs: number;

  constructor(options: DocumentLockOptions) {
    this.#connection = options.connection;
    this.#keys = documentKeys(options.prefix ?? DEFAULT_PREFIX);
    this.#ttlMs = options.ttlMs ?? 10_000;
  }

  /**
   * Takes a document for one attempt of `jobId`.
   * @param token - the attempt's fencing token, unique per attempt (BullMQ's lock token)
   */
  async acquire(collection: string, docId: string, jobId: string, token: string): Promise<AcquireResult> {
    const lockKey = this.#keys.lock(collection, docId);
    const indexedKey = this.#keys.indexed(collection);
    const field = documentField(collection, docId);
    const sentAt = Date.now();
    const [state, indexed] = (await this.#connection.eval(
      ACQUIRE,
      3,
      this.#keys.latest,
      lockKey,
      indexedKey,
      field,
      jobId,
      token,
      this.#ttlMs,
      docId,
    )) as [string, string];
    if (state === 'superseded' || state === 'locked') return { state };
    return {
      state: 'acquired',
      lease: this.#lease(lockKey, indexedKey, field, docId, jobId, token, sentAt),
      indexed: parseRecord(indexedRecordSchema, indexed),
    };
  }

  #lease(
    lockKey: string,
    indexedKey: string,
    field: string,
    docId: string,
    jobId: string,
    token: string,
    acquiredAt: number,
  ): DocumentLease {
    const ttl = this.#ttlMs;
    const margin = Math.round(ttl / 5);
    const controller = new AbortController();
    let expiry: NodeJS.Timeout | undefined;
    // The lease ends `margin` before the lock can expire in Redis, counted from when the last
    // confirmed renewal was *sent* (Redis applied it later, so its expiry is later still).
    const confirm = (sentAt: number) => {
      clearTimeout(expiry);
      expiry = setTimeout(
        () => lose('no renewal was confirmed in time'),
        Math.max(0, sentAt + ttl - margin - Date.now()),
      );
      expiry.unref();
    };
    const lose = (detail: string) => {
      stop();
      if (!controller.signal.aborted) controller.abort(new LeaseLostError(detail));
    };
    const stop = () => {
      clearInterval(renewal);
      clearTimeout(expiry);
    };
    const renew = async (): Promise<number> => {
      const sentAt = Date.now();
      const answer = Number(
        await this.#connection.eval(RENEW, 2, lockKey, this.#keys.latest, token, ttl, field, jobId),
      );
      if (answer === 0) lose('another attempt holds the document');
      else confirm(sentAt);
      return answer;
    };
    const renewal = setInterval(() => void renew().catch(() => undefined), ttl / 4);
    renewal.unref();
    confirm(acquiredAt);
    return {
      token,
      signal: controller.signal,
      isCurrent: async () => (await renew()) === 2,
      commit: async (record) => {
        stop();
        const done = await this.#connection.eval(
          COMMIT,
          3,
          lockKey,
          indexedKey,
          this.#keys.collections,
          token,
          docId,
          record ? JSON.stringify(record) : '',
          record?.payload.collection ?? '',
        );
        if (Number(done) !== 1) {
          throw new LeaseLostError('another attempt held the document at commit; nothing was recorded');
        }
      },
      release: async () => {
        stop();
        await this.#connection.eval(RELEASE, 1, lockKey, token);
      },
    };
  }
}
