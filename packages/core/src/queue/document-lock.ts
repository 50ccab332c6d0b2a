import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_PREFIX } from '../contract/config.js';
import { INGEST_QUEUE } from '../contract/document-jobs.js';

// Take the lock when free or already ours (a job resumed after a crash holds it under the same
// job ID); refresh its expiry either way.
const ACQUIRE = `
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
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
   * How long the lock outlives its holder's last renewal. A holder renews every third of it; a
   * holder that died leaves the document blocked for at most this long (its own job, resumed
   * elsewhere, takes the lock back at once). @defaultValue 15000
   */
  ttlMs?: number;
}

/** A held lock; renewed in the background until released. */
export interface HeldDocumentLock {
  /** Whether the lock was still ours at the last renewal. */
  readonly held: boolean;
  release(): Promise<void>;
}

/**
 * One job at a time per document, so that versions of one document processed concurrently
 * cannot interleave their writes and deletions. Held under the job's ID.
 */
export class DocumentLock {
  readonly #connection: Redis | Cluster;
  readonly #prefix: string;
  readonly #ttlMs: number;

  constructor(options: DocumentLockOptions) {
    this.#connection = options.connection;
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#ttlMs = options.ttlMs ?? 15_000;
  }

  /** Takes the document's lock for `jobId`, or returns undefined when another job holds it. */
  async acquire(collection: string, docId: string, jobId: string): Promise<HeldDocumentLock | undefined> {
    const key = this.#key(collection, docId);
    const got = await this.#connection.eval(ACQUIRE, 1, key, jobId, this.#ttlMs);
    if (got !== 1) return undefined;
    let held = true;
    const timer = setInterval(() => {
      this.#connection.eval(RENEW, 1, key, jobId, this.#ttlMs).then(
        (renewed) => (held = renewed === 1),
        () => undefined,
      );
    }, this.#ttlMs / 3);
    timer.unref();
    return {
      get held() {
        return held;
      },
      release: async () => {
        clearInterval(timer);
        held = false;
        await this.#connection.eval(RELEASE, 1, key, jobId);
      },
    };
  }

  #key(collection: string, docId: string): string {
    // docIds may contain anything but control characters; encode them to keep keys printable.
    return `${this.#prefix}:${INGEST_QUEUE}:doc-lock:${collection}:${Buffer.from(docId).toString('base64url')}`;
  }
}
