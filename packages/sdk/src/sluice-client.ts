import { collectionSchema, docIdSchema, queryBodySchema } from '@sluice/core';
import type {
  AuditReport,
  CollectionProgress,
  DocumentJobResult,
  DocumentList,
  IngestAccepted,
  JobStatus,
  QueryResult,
} from '@sluice/core';
import { z } from 'zod';
import { resolveDocument, type IngestOptions } from './document-input.js';
import { HttpTransport } from './http-transport.js';
import type { WaitOptions } from './job-outcome.js';
import {
  resolveClientOptions,
  type ResolvedClientOptions,
  type SluiceClientOptions,
} from './sluice-client-options.js';
import type { RequestOptions, SluiceTransport } from './transport.js';
import { validate } from './validation.js';

/** What {@link SluiceClient.remove} takes. */
export interface RemoveOptions extends RequestOptions {
  collection: string;
  docId: string;
}

/** What {@link SluiceClient.query} takes. */
export interface QueryOptions extends RequestOptions {
  collection: string;
  /** The question or passage to match. */
  text: string;
  /** Matches wanted, 1–100. @defaultValue 5 */
  k?: number;
}

/** What {@link SluiceClient.audit} takes. */
export interface AuditOptions extends RequestOptions {
  collection: string;
  /** Submit the jobs that converge the drift found. @defaultValue false */
  repair?: boolean;
}

/** What {@link SluiceClient.list} takes. */
export interface ListOptions extends RequestOptions {
  collection: string;
}

const jobIdSchema = z.string().min(1).max(256);
const waitOptionsSchema = z.object({ timeoutMs: z.number().positive().optional() });

/**
 * The Sluice client: one typed surface over two ways in.
 *
 * - `new SluiceClient({ apiUrl, token })`: through the HTTP API, from anywhere; transient failures
 *   (connection refused or reset, 502, 503, 504) are retried with backoff, 4xx never.
 * - `new SluiceClient({ redisUrl, prefix, storageDir })`: straight onto the queue, from inside the
 *   cluster; `query` and `audit` need the API and are refused (`list` answers from Sluice's own
 *   records). The queue client (bullmq, ioredis) is loaded only in this mode
 *   (`@sluice/sdk/redis`), so the HTTP mode stays light.
 *
 * Every input is checked with the schemas the API and the worker use before anything is sent, and
 * every failure is a `SluiceError` with a code: {@link ApiError} for an error answer of the API,
 * {@link JobFailedError} for a job that failed. Repeating any call is safe: ingest job IDs derive
 * from the content, so the same version is never queued twice.
 */
export class SluiceClient {
  /** `api` or `redis`. */
  readonly mode: ResolvedClientOptions['mode'];
  readonly #transport: Promise<SluiceTransport>;

  /** @throws SluiceError `INVALID_REQUEST` naming a bad option */
  constructor(options: SluiceClientOptions) {
    const resolved = resolveClientOptions(options);
    this.mode = resolved.mode;
    this.#transport =
      resolved.mode === 'api'
        ? Promise.resolve(new HttpTransport(resolved))
        : import('./redis-transport.js').then(({ RedisTransport }) => new RedisTransport(resolved));
    // A failure to load surfaces at the first call, not as an unhandled rejection.
    void this.#transport.catch(() => undefined);
  }

  /**
   * Submits one version of a document. Submitting the same bytes for the same docId again answers
   * the existing job with `deduplicated: true` and does no new work.
   * @throws SluiceError `INVALID_REQUEST` (with `details.field`) or `UNSUPPORTED_TYPE` before sending; the API's code after
   */
  async ingest(options: IngestOptions): Promise<IngestAccepted> {
    const doc = await resolveDocument(options);
    return (await this.#transport).ingest(doc, { signal: options.signal });
  }

  /**
   * Waits for a job to end. Redis mode follows BullMQ's queue events (no polling); HTTP mode polls
   * the job's state, 200 ms growing to 2 s apart. Stopping the wait leaves the job running.
   * @returns the job's result (chunks, embedded, skipped, deleted, pages)
   * @throws JobFailedError with the job's code (`INVALID_DOCUMENT`, `ENCRYPTED_DOCUMENT`, …) when it failed;
   * SluiceError `TIMEOUT` after `timeoutMs`; `NOT_FOUND` for an unknown job; the signal's reason on abort
   */
  async wait(jobId: string, options: WaitOptions = {}): Promise<DocumentJobResult> {
    validate(jobIdSchema, jobId, 'jobId');
    validate(waitOptionsSchema, { timeoutMs: options.timeoutMs }, '');
    return (await this.#transport).wait(jobId, options);
  }

  /**
   * A job's current state, progress, attempts, and its result or error.
   * @throws SluiceError `NOT_FOUND` for an unknown job (finished jobs are kept for a week)
   */
  async status(jobId: string, options: RequestOptions = {}): Promise<JobStatus> {
    validate(jobIdSchema, jobId, 'jobId');
    return (await this.#transport).status(jobId, options);
  }

  /** Submits the removal of a document's chunks; answers the delete job. */
  async remove(options: RemoveOptions): Promise<{ jobId: string }> {
    const collection = validate(collectionSchema, options.collection, 'collection');
    const docId = validate(docIdSchema, options.docId, 'docId');
    return (await this.#transport).remove(collection, docId, options);
  }

  /**
   * The `k` chunks nearest to `text`, with their document, page and metadata. HTTP mode only.
   * @throws SluiceError `INVALID_REQUEST` in Redis mode
   */
  async query(options: QueryOptions): Promise<QueryResult> {
    const collection = validate(collectionSchema, options.collection, 'collection');
    const body = validate(queryBodySchema, { text: options.text, k: options.k }, '');
    return (await this.#transport).query(collection, body.text, body.k, options);
  }

  /**
   * Where the collection's jobs are: queued, active, completed, failed, the completion rate and
   * the time left at that rate.
   */
  async progress(options: ListOptions): Promise<CollectionProgress> {
    const collection = validate(collectionSchema, options.collection, 'collection');
    return (await this.#transport).progress(collection, options);
  }

  /**
   * The collection's documents, each with its indexed version, chunk count and metadata (in
   * Redis mode from Sluice's records, without Chroma).
   */
  async list(options: ListOptions): Promise<DocumentList> {
    const collection = validate(collectionSchema, options.collection, 'collection');
    return (await this.#transport).list(collection, options);
  }

  /**
   * Compares the collection in Chroma with Sluice's record of what is indexed (missing, orphaned,
   * stale and duplicated chunks); with `repair`, submits the jobs that converge it. HTTP mode only.
   * @throws SluiceError `INVALID_REQUEST` in Redis mode
   */
  async audit(options: AuditOptions): Promise<AuditReport> {
    const collection = validate(collectionSchema, options.collection, 'collection');
    return (await this.#transport).audit(collection, options.repair ?? false, options);
  }

  /** Releases connections; waits still pending reject with `SHUTTING_DOWN`. Safe to call twice. */
  async close(): Promise<void> {
    await (await this.#transport).close();
  }

  /** {@link SluiceClient.close}, for `await using client = new SluiceClient(…)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
