import { Job, Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import {
  jobStatusSchema,
  type CollectionProgress,
  type IngestAccepted,
  type JobStatus,
} from '../contract/api-contract.js';
import { DEFAULT_PREFIX } from '../contract/config.js';
import {
  INGEST_QUEUE,
  deleteDocumentJob,
  documentJobResultSchema,
  ingestDocumentJob,
  type DeleteDocumentPayload,
} from '../contract/document-jobs.js';
import { ERROR_CODES, decodeFailure } from '../contract/errors.js';
import { parsePayload, type JobDefinition, type PayloadInputOf } from '../contract/job-definition.js';
import { deleteJobId, documentVersion, ingestJobId } from '../contract/job-id.js';
import {
  DELETED,
  documentField,
  documentKeys,
  indexedRecordSchema,
  latestSubmissionSchema,
  parseRecord,
  type IndexedRecord,
  type LatestSubmission,
} from './document-records.js';

/** What a caller gives to enqueue an ingest. */
export type IngestRequest = PayloadInputOf<typeof ingestDocumentJob>;

/**
 * The fingerprint a submission is versioned with while no worker has published one yet: the
 * version then changes once a worker starts, which costs at most one extra, incremental run.
 */
export const UNKNOWN_FINGERPRINT = 'unknown';

/** Points where tests stop or break a submission on purpose (deterministic fault injection). */
export interface DocumentQueueHooks {
  /** Runs after the submission was read and before it is committed (record and job, atomically). */
  beforeCommit?: (jobId: string) => Promise<void>;
}

/** Options for {@link DocumentQueue}. */
export interface DocumentQueueOptions {
  /** A `producer`-role connection; the queue does not close it. */
  connection: Redis | Cluster;
  /** @defaultValue `sluice` */
  prefix?: string;
  /** Test-only fault points. @defaultValue none */
  hooks?: DocumentQueueHooks;
}

/** Options of one {@link DocumentQueue.ingest}. */
export interface IngestOptions {
  /**
   * Run the version again even when it is the latest submission (an audit's repair): a new job
   * with a new submission number. @defaultValue false
   */
  force?: boolean;
}

// One round trip before a submission: its number, and what the decision needs to know.
const READ_SUBMISSION = `
local seq = redis.call('INCR', KEYS[1])
return {seq, redis.call('HGET', KEYS[2], ARGV[1]) or '', redis.call('GET', KEYS[3]) or ''}
`;

/** The part of BullMQ's transaction wrapper used here (its `hset` takes a field → value object). */
/** Minutes of completion counts a collection keeps, for its rate. */
const PROGRESS_MINUTES = 10;
/** Most unfinished jobs one progress call checks for an end that was never recorded. */
const PROGRESS_CHECKS_PER_CALL = 500;

// A job's end, counted once: only the call that takes it out of the unfinished set counts it, so a
// repeated call (a retried request) changes nothing. Completions are also counted per minute, by
// Redis's clock, and minutes older than ARGV[3] are dropped.
const RECORD_END = `
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
if ARGV[2] == 'completed' then
  local minute = math.floor(tonumber(redis.call('TIME')[1]) / 60)
  redis.call('HINCRBY', KEYS[2], 'm:' .. minute, 1)
  for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
    local m = tonumber(string.match(field, '^m:(%d+)$'))
    if m and m < minute - tonumber(ARGV[3]) then redis.call('HDEL', KEYS[2], field) end
  end
end
return 1
`;

interface BullTransaction {
  hset(key: string, fields: Record<string, string>): unknown;
  sadd(key: string, member: string): unknown;
  exec(): Promise<[Error | null, unknown][] | null>;
}

// A writer protects an upload before it makes it visible; the answer says whether a sweep is
// removing it right now (then the writer waits and writes it again).
const PROTECT_UPLOAD = `
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return redis.call('EXISTS', KEYS[2])
`;

/**
 * How long a written upload is safe from the sweep: longer than any upload takes to be
 * committed and its job enqueued, so the job's payload, which the sweep reads, names it by then.
 */
export const UPLOAD_PROTECTION_MS = 60 * 60 * 1000;

/** Job states in which a job still carries out (or carried out) its submission. */
const LIVE_STATES: ReadonlySet<string> = new Set([
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'completed',
]);

/**
 * The producer side of document jobs, shared by the API and the SDK's Redis mode. Every
 * submission gets a number; the document's latest submission names the one job allowed to
 * index or delete it (last write wins), and recording it and enqueueing that job are one
 * MULTI/EXEC: both happen or neither does, whatever fails in between.
 */
export class DocumentQueue {
  readonly queue: Queue;
  readonly #connection: Redis | Cluster;
  readonly #keys: ReturnType<typeof documentKeys>;
  readonly #hooks: DocumentQueueHooks;

  constructor(options: DocumentQueueOptions) {
    this.#connection = options.connection;
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#keys = documentKeys(prefix);
    this.#hooks = options.hooks ?? {};
    this.queue = new Queue(INGEST_QUEUE, { connection: options.connection, prefix });
  }

  /**
   * Submits one version of a document. Its version is (content, metadata, pipeline fingerprint).
   * The same version submitted again with no other submission of the document in between
   * answers the existing job (`deduplicated: true`) while it is queued, running, completed or
   * failed for good, and re-adds it under the same ID when it is already indexed but was removed
   * from the queue's history. Anything else gets a new job: a version overtaken by another (A →
   * B → A) runs again.
   * @throws SluiceError `INVALID_REQUEST` naming the bad field, before anything is recorded
   */
  async ingest(request: IngestRequest, options: IngestOptions = {}): Promise<IngestAccepted> {
    const payload = parsePayload(ingestDocumentJob, request);
    const { collection, docId, contentHash } = payload;
    const read = await this.#readSubmission(collection, docId);
    const version = documentVersion({
      contentHash,
      metadata: payload.metadata,
      fingerprint: read.fingerprint || UNKNOWN_FINGERPRINT,
    });
    const answer = (jobId: string, deduplicated: boolean) => ({ jobId, docId, contentHash, deduplicated });
    if (!options.force && read.latest?.version === version) {
      const state = await this.queue.getJobState(read.latest.jobId);
      if (
        LIVE_STATES.has(state) ||
        (state === 'failed' && !(await this.#failedRetryable(read.latest.jobId)))
      ) {
        return answer(read.latest.jobId, true);
      }
      if (state === 'unknown' && (await this.indexed(collection, docId))?.version === version) {
        // Indexed, but the job is gone from the queue's history: the same job again, which the
        // worker completes at once from the record.
        await this.#commit(collection, docId, read.latest, ingestDocumentJob, payload);
        return answer(read.latest.jobId, true);
      }
    }
    const latest = {
      seq: read.seq,
      version,
      jobId: ingestJobId({ collection, docId, version, seq: read.seq }),
    };
    await this.#commit(collection, docId, latest, ingestDocumentJob, payload);
    return answer(latest.jobId, false);
  }

  /** Submits the removal of every chunk of a document. */
  async remove(input: DeleteDocumentPayload): Promise<{ jobId: string }> {
    const payload = parsePayload(deleteDocumentJob, input);
    const { seq } = await this.#readSubmission(payload.collection, payload.docId);
    const latest = { seq, version: DELETED, jobId: deleteJobId({ ...payload, seq }) };
    await this.#commit(payload.collection, payload.docId, latest, deleteDocumentJob, payload);
    return { jobId: latest.jobId };
  }

  /** The latest submission recorded for a document, if any. */
  async latest(collection: string, docId: string): Promise<LatestSubmission | undefined> {
    await this.queue.waitUntilReady();
    const raw = await this.#connection.hget(this.#keys.latest, documentField(collection, docId));
    return parseRecord(latestSubmissionSchema, raw);
  }

  /** What a document has indexed, from Sluice's own record. */
  async indexed(collection: string, docId: string): Promise<IndexedRecord | undefined> {
    await this.queue.waitUntilReady();
    return parseRecord(
      indexedRecordSchema,
      await this.#connection.hget(this.#keys.indexed(collection), docId),
    );
  }

  /** Every indexed record of a collection, by docId, read in pages (HSCAN). */
  async indexedRecords(collection: string): Promise<Map<string, IndexedRecord>> {
    await this.queue.waitUntilReady();
    const records = new Map<string, IndexedRecord>();
    const key = this.#keys.indexed(collection);
    let cursor = '0';
    do {
      const [next, entries] = await this.#connection.hscan(key, cursor, 'COUNT', 500);
      for (let i = 0; i + 1 < entries.length; i += 2) {
        const record = parseRecord(indexedRecordSchema, entries[i + 1]);
        if (record) records.set(entries[i]!, record);
      }
      cursor = next;
    } while (cursor !== '0');
    return records;
  }

  /**
   * Keeps an upload from the sweep of unused uploads for {@link UPLOAD_PROTECTION_MS}, before the
   * writer makes it visible (commits it). Waits while a sweep is removing it, so that the commit
   * that follows writes it again rather than trusting a copy about to go.
   */
  async protectUpload(key: string): Promise<void> {
    await this.queue.waitUntilReady();
    for (let waited = 0; ; waited += 100) {
      const sweeping = await this.#connection.eval(
        PROTECT_UPLOAD,
        2,
        this.#keys.uploadProtected(key),
        this.#keys.uploadSweeping(key),
        UPLOAD_PROTECTION_MS,
      );
      if (Number(sweeping) === 0 || waited > 30_000) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Records the pipeline fingerprint the workers run (each worker, at its start). */
  async publishPipeline(fingerprint: string): Promise<void> {
    await this.queue.waitUntilReady();
    await this.#connection.set(this.#keys.pipeline, fingerprint);
  }

  /** A job's state, or undefined when no such job exists (or it was removed after a week). */
  async status(jobId: string): Promise<JobStatus | undefined> {
    // State first, then the job: a job that finishes in between is then read with its result
    // (reading the job first could pair a finished state with data from before the finish).
    const state = await this.queue.getJobState(jobId);
    if (state === 'unknown') return undefined;
    const job = await Job.fromId(this.queue, jobId);
    if (!job) return undefined;
    const failure = state === 'failed' ? decodeFailure(job.failedReason) : undefined;
    const result = documentJobResultSchema.safeParse(job.returnvalue);
    return {
      jobId,
      name: job.name,
      state: jobStatusSchema.shape.state.options.includes(state) ? state : 'unknown',
      progress:
        typeof job.progress === 'object' || typeof job.progress === 'number'
          ? (job.progress as JobStatus['progress'])
          : 0,
      attempts: job.attemptsMade,
      ...(state === 'completed' && result.success ? { result: result.data } : {}),
      ...(failure ? { error: failure } : {}),
    };
  }

  /**
   * Records that a job of `collection` ended (a worker calls it once per job, when it completes
   * or fails for good): out of the collection's unfinished jobs, into its counts. One script call.
   */
  async recordEnd(collection: string, jobId: string, outcome: 'completed' | 'failed'): Promise<void> {
    await this.#connection.eval(
      RECORD_END,
      2,
      this.#keys.pending(collection),
      this.#keys.progress(collection),
      jobId,
      outcome,
      String(PROGRESS_MINUTES),
    );
  }

  /**
   * Where a collection's jobs are: queued, active, completed, failed, the completion rate over the
   * last five minutes (from the first of them with a completion, so that a run a minute old is not
   * averaged over five) and the time left at that rate. The cost does not grow with the backlog: the
   * unfinished jobs are a count, and each call checks at most {@link PROGRESS_CHECKS_PER_CALL} of
   * them (all of them while there are fewer), one hash read each in one round trip. A job that
   * ended without its end recorded (its worker died in between) is counted then; one gone from
   * Redis without ending (a queue emptied by hand) is dropped: else either would stay for ever.
   */
  async collectionProgress(collection: string): Promise<CollectionProgress> {
    await this.queue.waitUntilReady();
    const pendingKey = this.#keys.pending(collection);
    const [sample, active, time] = await Promise.all([
      this.#connection.srandmember(pendingKey, PROGRESS_CHECKS_PER_CALL),
      this.queue.getJobs(['active']),
      this.#connection.time(),
    ]);
    const check = this.#connection.pipeline();
    for (const id of sample) check.hmget(this.queue.toKey(id), 'timestamp', 'finishedOn');
    const fields = (await check.exec()) ?? [];
    await Promise.all(
      sample.map(async (id, n) => {
        const [timestamp, finishedOn] = (fields[n]?.[1] ?? []) as (string | null)[];
        if (timestamp && !finishedOn) return; // still to run, or running
        // Ended or gone: rare, so BullMQ's own (costlier) answer decides which.
        const state = timestamp ? await this.queue.getJobState(id) : 'unknown';
        if (state === 'completed' || state === 'failed') await this.recordEnd(collection, id, state);
        else if (state === 'unknown') await this.#connection.srem(pendingKey, id);
      }),
    );
    // Which of the fleet's active jobs are this collection's (SISMEMBER each, one round trip:
    // SMISMEMBER would need Redis 6.2).
    const members = this.#connection.pipeline();
    for (const job of active) if (job.id !== undefined) members.sismember(pendingKey, job.id);
    const [left, activeHere] = await Promise.all([this.#connection.scard(pendingKey), members.exec()]);
    const running = (activeHere ?? []).filter(([, member]) => member === 1).length;
    const counts = await this.#connection.hgetall(this.#keys.progress(collection));
    // The last four whole minutes and the current one so far, from the first of them with a completion:
    // a run that began a minute ago is not averaged over five.
    const now = Number(time[0]);
    const minute = Math.floor(now / 60);
    let recent = 0;
    let since: number | undefined;
    for (let m = minute - 4; m <= minute; m++) {
      const ended = Number(counts[`m:${m}`] ?? 0);
      recent += ended;
      if (ended > 0) since ??= m * 60;
    }
    const perMinute = recent / Math.max(1, (now - (since ?? now)) / 60);
    return {
      collection,
      queued: Math.max(0, left - running),
      active: running,
      completed: Number(counts.completed ?? 0),
      failed: Number(counts.failed ?? 0),
      perMinute,
      etaSeconds: left > 0 && perMinute > 0 ? Math.ceil((left / perMinute) * 60) : null,
    };
  }

  /** Closes the queue (not the connection). */
  async close(): Promise<void> {
    await this.queue.close();
  }

  async #readSubmission(
    collection: string,
    docId: string,
  ): Promise<{ seq: number; latest: LatestSubmission | undefined; fingerprint: string }> {
    await this.queue.waitUntilReady();
    const [seq, latest, fingerprint] = (await this.#connection.eval(
      READ_SUBMISSION,
      3,
      this.#keys.seq,
      this.#keys.latest,
      this.#keys.pipeline,
      documentField(collection, docId),
    )) as [number, string, string];
    return { seq: Number(seq), latest: parseRecord(latestSubmissionSchema, latest), fingerprint };
  }

  /**
   * Records `latest` as the document's latest submission and adds its job, in one MULTI/EXEC.
   * Adding a job whose ID exists is a no-op in BullMQ, so committing again is safe.
   */
  async #commit<TDef extends JobDefinition>(
    collection: string,
    docId: string,
    latest: LatestSubmission,
    def: TDef,
    payload: PayloadInputOf<TDef>,
  ): Promise<void> {
    const data = parsePayload(def, payload);
    const job = new Job(this.queue, def.name, data, { ...def.defaults, jobId: latest.jobId }, latest.jobId);
    await this.#hooks.beforeCommit?.(latest.jobId);
    // BullMQ's own client, whose transactions run its scripts (`addJob` on a transaction is how its
    // bulk and flow inserts work). Both commands are queued here and sent as one MULTI/EXEC.
    const multi = (await this.queue.backend.client).multi() as unknown as BullTransaction;
    multi.hset(this.#keys.latest, { [documentField(collection, docId)]: JSON.stringify(latest) });
    // The collection's unfinished jobs, for its progress view (a set: committing again is harmless).
    multi.sadd(this.#keys.pending(collection), latest.jobId);
    void job.addJob(multi as never).catch(() => undefined);
    const results = await multi.exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('the submission transaction was aborted');
  }

  async #failedRetryable(jobId: string): Promise<boolean> {
    const job = await Job.fromId(this.queue, jobId);
    return ERROR_CODES[decodeFailure(job?.failedReason).code].retryable;
  }
}
