import type { Logger } from '@sluice/core';
import { documentKeys, indexedRecordSchema, parseRecord } from '@sluice/core/queue';
import type { UploadStore } from '@sluice/storage';
import type { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';

// Claims an unused upload for removal unless a writer protected it meanwhile: the writer sets its
// protection before it checks for a sweep, so either the sweep sees the protection or the writer
// sees the sweep (and writes the upload again once the sweep is done).
const CLAIM = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
return 1
`;

/** Options for {@link sweepUploads}. */
export interface SweepOptions {
  store: UploadStore;
  connection: Redis | Cluster;
  prefix: string;
  /** The ingest queue, whose unfinished jobs' uploads are kept. */
  queue: Queue;
  /** Uploads younger than this are kept whatever happens. @defaultValue 24 hours */
  minAgeMs?: number;
  logger: Logger;
}

/** What a sweep did. */
export interface SweepResult {
  /** Uploads looked at. */
  uploads: number;
  /** Uploads still needed: a document's indexed version, or a job not finished, names them. */
  kept: number;
  removed: number;
}

/** Job states whose jobs may still read their upload. */
const UNFINISHED = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/**
 * Removes uploads nothing needs any more, so that the store does not grow for ever: an upload is
 * kept while a document's indexed version names it (an audit's repair runs that version again
 * from it), while a job that has not finished names it, while it is younger than `minAgeMs`, and
 * while a writer has protected it lately (`DocumentQueue.protectUpload`, before every commit).
 * One sweep at a time across the workers.
 */
export async function sweepUploads(options: SweepOptions): Promise<SweepResult | undefined> {
  const { store, connection, queue, logger } = options;
  const keys = documentKeys(options.prefix);
  const minAgeMs = options.minAgeMs ?? 24 * 3600 * 1000;
  const lockTtlMs = 30 * 60 * 1000;
  if ((await connection.set(keys.sweepLock, String(process.pid), 'PX', lockTtlMs, 'NX')) !== 'OK')
    return undefined;
  try {
    const needed = await neededUploads(connection, options.prefix, queue);
    const result: SweepResult = { uploads: 0, kept: 0, removed: 0 };
    for await (const upload of store.list()) {
      result.uploads += 1;
      if (needed.has(upload.key) || Date.now() - upload.modifiedAt < minAgeMs) {
        result.kept += 1;
        continue;
      }
      const claimed = await connection.eval(
        CLAIM,
        2,
        keys.uploadProtected(upload.key),
        keys.uploadSweeping(upload.key),
        60_000,
      );
      if (Number(claimed) !== 1) {
        result.kept += 1;
        continue;
      }
      try {
        await store.delete(upload.key);
        result.removed += 1;
      } finally {
        await connection.del(keys.uploadSweeping(upload.key));
      }
    }
    logger.info({ ...result, location: store.location }, 'swept unused uploads');
    return result;
  } finally {
    await connection.del(keys.sweepLock);
  }
}

/** Every upload a document's indexed version or an unfinished job names. */
async function neededUploads(
  connection: Redis | Cluster,
  prefix: string,
  queue: Queue,
): Promise<Set<string>> {
  const needed = new Set<string>();
  const keys = documentKeys(prefix);
  for (const collection of await connection.smembers(keys.collections)) {
    let cursor = '0';
    do {
      const [next, entries] = await connection.hscan(keys.indexed(collection), cursor, 'COUNT', 500);
      for (let i = 1; i < entries.length; i += 2) {
        const storageKey = parseRecord(indexedRecordSchema, entries[i])?.payload.storageKey;
        if (storageKey) needed.add(storageKey);
      }
      cursor = next;
    } while (cursor !== '0');
  }
  for (const job of await queue.getJobs([...UNFINISHED])) {
    const storageKey = (job.data as { storageKey?: unknown } | undefined)?.storageKey;
    if (typeof storageKey === 'string') needed.add(storageKey);
  }
  return needed;
}
