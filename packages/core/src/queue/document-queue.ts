import { Job, Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_PREFIX } from '../contract/config.js';
import { ERROR_CODES, decodeFailure } from '../contract/errors.js';
import { deleteJobId, ingestJobId } from '../contract/job-id.js';
import { parsePayload, type PayloadInputOf } from '../contract/job-definition.js';
import { enqueue } from './enqueue.js';
import {
  INGEST_QUEUE,
  deleteDocumentJob,
  documentJobResultSchema,
  ingestDocumentJob,
  type DeleteDocumentPayload,
} from '../contract/document-jobs.js';
import { jobStatusSchema, type IngestAccepted, type JobStatus } from '../contract/api-contract.js';

/** What a caller gives to enqueue an ingest. */
export type IngestRequest = PayloadInputOf<typeof ingestDocumentJob>;

/** The `version` recorded when a document's removal was submitted. */
export const DELETED = 'deleted';

/**
 * The latest submission recorded for a document. A job whose version is not the latest was
 * overtaken: it stops and leaves the document to the later job (last write wins).
 */
export interface LatestVersion {
  /** Submission number, increasing across all documents. */
  seq: number;
  /** The submitted contentHash, or {@link DELETED}. */
  version: string;
}

// Atomically: take the next sequence number and record this submission as the document's
// latest; return the number and the previous record. One script, so that "submitted last" is
// the order in which submissions reach Redis.
const RECORD_SUBMISSION = `
local seq = redis.call('INCR', KEYS[1])
local previous = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], seq .. ' ' .. ARGV[2])
return {seq, previous or ''}
`;

/** Options for {@link DocumentQueue}. */
export interface DocumentQueueOptions {
  /** A `producer`-role connection; the queue does not close it. */
  connection: Redis | Cluster;
  /** @defaultValue `sluice` */
  prefix?: string;
}

function parseLatest(raw: string | null | undefined): LatestVersion | undefined {
  if (!raw) return undefined;
  const [seq, version] = raw.split(' ');
  return { seq: Number(seq), version: version ?? '' };
}

/**
 * The producer side of document jobs, shared by the API and the SDK's Redis mode: records the
 * submission order per document (for last-write-wins), enqueues with deterministic job IDs and
 * answers job status.
 */
export class DocumentQueue {
  readonly queue: Queue;
  readonly #connection: Redis | Cluster;
  readonly #prefix: string;

  constructor(options: DocumentQueueOptions) {
    this.#connection = options.connection;
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
    this.queue = new Queue(INGEST_QUEUE, { connection: options.connection, prefix: this.#prefix });
  }

  /**
   * Enqueues one version of a document. The same version again returns the existing job
   * (`deduplicated: true`) while it is queued, running, or still the document's indexed version;
   * a version that was overtaken by another and is submitted again runs again, so the last
   * submission always wins.
   * @throws SluiceError `INVALID_REQUEST` naming the bad field
   */
  async ingest(request: IngestRequest): Promise<IngestAccepted> {
    // Validate before recording anything.
    parsePayload(ingestDocumentJob, request);
    const jobId = ingestJobId(request);
    await this.queue.waitUntilReady();
    const previous = await this.#recordSubmission(request.collection, request.docId, request.contentHash);
    const existing = await Job.fromId(this.queue, jobId);
    if (existing) {
      const state = await existing.getState();
      const overtaken = previous.previous?.version !== request.contentHash;
      const reusable =
        state === 'completed'
          ? !overtaken
          : state === 'failed'
            ? !decodeFailureRetryable(existing.failedReason)
            : state !== 'unknown';
      if (reusable) {
        return { jobId, docId: request.docId, contentHash: request.contentHash, deduplicated: true };
      }
      await existing.remove();
    }
    await enqueue(this.queue, ingestDocumentJob, request, { jobId });
    return { jobId, docId: request.docId, contentHash: request.contentHash, deduplicated: false };
  }

  /** Enqueues the removal of every chunk of a document. */
  async remove(input: DeleteDocumentPayload): Promise<{ jobId: string }> {
    parsePayload(deleteDocumentJob, input);
    await this.queue.waitUntilReady();
    const previous = await this.#recordSubmission(input.collection, input.docId, DELETED);
    const jobId = deleteJobId({ ...input, nonce: String(previous.seq) });
    await enqueue(this.queue, deleteDocumentJob, input, { jobId });
    return { jobId };
  }

  /** The latest submission recorded for a document, if any. */
  async latest(collection: string, docId: string): Promise<LatestVersion | undefined> {
    await this.queue.waitUntilReady();
    return parseLatest(await this.#connection.hget(this.#latestKey(), field(collection, docId)));
  }

  /**
   * Records the version now indexed for a document (`undefined` after a delete). Chunk metadata
   * cannot say it: an unchanged chunk keeps the `contentHash` of the version that first wrote it.
   */
  async markIndexed(collection: string, docId: string, contentHash: string | undefined): Promise<void> {
    if (contentHash === undefined) await this.#connection.hdel(this.#indexedKey(collection), docId);
    else await this.#connection.hset(this.#indexedKey(collection), docId, contentHash);
  }

  /** The indexed version of every document of a collection, by docId. */
  async indexedVersions(collection: string): Promise<Map<string, string>> {
    await this.queue.waitUntilReady();
    return new Map(Object.entries(await this.#connection.hgetall(this.#indexedKey(collection))));
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

  /** Closes the queue (not the connection). */
  async close(): Promise<void> {
    await this.queue.close();
  }

  async #recordSubmission(
    collection: string,
    docId: string,
    version: string,
  ): Promise<LatestVersion & { previous: LatestVersion | undefined }> {
    const [seq, previous] = (await this.#connection.eval(
      RECORD_SUBMISSION,
      2,
      `${this.#prefix}:${INGEST_QUEUE}:doc-seq`,
      this.#latestKey(),
      field(collection, docId),
      version,
    )) as [number, string];
    return { seq: Number(seq), version, previous: parseLatest(previous) };
  }

  #indexedKey(collection: string): string {
    return `${this.#prefix}:${INGEST_QUEUE}:indexed:${collection}`;
  }

  #latestKey(): string {
    return `${this.#prefix}:${INGEST_QUEUE}:doc-latest`;
  }
}

function field(collection: string, docId: string): string {
  // Collection names cannot contain a newline, so the pair is unambiguous.
  return `${collection}\n${docId}`;
}

function decodeFailureRetryable(reason: string | undefined): boolean {
  return ERROR_CODES[decodeFailure(reason).code].retryable;
}
