import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { Cluster, Redis } from 'ioredis';
import {
  MAX_INLINE_TEXT_BYTES,
  SluiceError,
  contentHash,
  toSluiceError,
  type AuditReport,
  type CollectionProgress,
  type DocumentJobResult,
  type DocumentList,
  type IngestAccepted,
  type JobStatus,
  type QueryResult,
} from '@sluice/core';
import { DocumentQueue, JobEvents, createRedisConnection, type IngestRequest } from '@sluice/core/queue';
import { createUploadStore, type UploadStore } from '@sluice/storage';
import { abortReason, raceAbort } from './abort.js';
import { sourceOf, type ResolvedDocument } from './document-input.js';
import { outageTolerance, outcomeOf, waitDeadline, type WaitOptions } from './job-outcome.js';
import type { RequestOptions, SluiceTransport } from './transport.js';
import { invalidRequest } from './validation.js';

/** What {@link RedisTransport} needs, fully resolved. */
export interface RedisTransportOptions {
  redisUrl: string;
  /** The workers' `REDIS_PASSWORD`, when it is not in the URL. */
  redisPassword: string | undefined;
  /** BullMQ key prefix, the workers' `SLUICE_PREFIX`. */
  prefix: string;
  /** The workers' `STORAGE_DIR`, mounted here; without it (or `storageUrl`) only small texts can be sent. */
  storageDir: string | undefined;
  /** The workers' `STORAGE_URL` (`s3://bucket/prefix`), instead of `storageDir`. */
  storageUrl: string | undefined;
  s3Endpoint: string | undefined;
  s3ForcePathStyle: boolean;
  /** How long one operation waits for Redis (through a reconnect) before it fails. */
  requestTimeoutMs: number;
}

/**
 * Re-check interval of a waiting job besides its events. BullMQ's event stream is capped
 * (about 10,000 entries), so a waiter that falls behind a burst of events could miss its own;
 * the re-check bounds that to this delay. It is not polling: one read per waiting job per period.
 */
const SAFETY_RECHECK_MS = 15_000;

/**
 * The SDK's Redis mode: enqueues straight onto the `ingest` queue with {@link DocumentQueue} (the
 * code the API uses), copies files into the shared storage directory, and follows jobs with
 * BullMQ's QueueEvents. For processes inside the cluster, next to the workers.
 */
export class RedisTransport implements SluiceTransport {
  readonly #options: RedisTransportOptions;
  readonly #connection: Redis | Cluster;
  readonly #documents: DocumentQueue;
  /** Where files go: the workers' STORAGE_DIR or STORAGE_URL; none without either. */
  readonly #uploads: UploadStore | undefined;
  readonly #events: JobEvents;
  /** Ends every wait under way, when the client closes. */
  readonly #waits = new Set<(err: Error) => void>();
  #lastError: Error | undefined;
  #closed = false;

  constructor(options: RedisTransportOptions) {
    this.#options = options;
    this.#connection = createRedisConnection({
      url: options.redisUrl,
      password: options.redisPassword,
      role: 'producer',
      connectionName: 'sluice-sdk',
    });
    // ioredis reconnects by itself; the last error only explains a later failure.
    this.#connection.on('error', (err: Error) => (this.#lastError = err));
    this.#documents = new DocumentQueue({ connection: this.#connection, prefix: options.prefix });
    this.#documents.queue.on('error', (err: Error) => (this.#lastError = err));
    this.#events = new JobEvents({
      connection: this.#connection,
      redisUrl: options.redisUrl,
      redisPassword: options.redisPassword,
      prefix: options.prefix,
      connectionName: 'sluice-sdk-events',
      onError: (err: Error) => (this.#lastError = err),
    });
    this.#uploads =
      options.storageUrl !== undefined || options.storageDir !== undefined
        ? createUploadStore({
            STORAGE_DIR: options.storageDir ?? '',
            STORAGE_URL: options.storageUrl,
            S3_ENDPOINT: options.s3Endpoint,
            S3_FORCE_PATH_STYLE: options.s3ForcePathStyle,
          })
        : undefined;
  }

  async ingest(doc: ResolvedDocument, options: RequestOptions): Promise<IngestAccepted> {
    this.#assertOpen();
    const request = await this.#request(doc, options.signal);
    return this.#call(options.signal, () => this.#documents.ingest(request));
  }

  async status(jobId: string, options: RequestOptions): Promise<JobStatus> {
    this.#assertOpen();
    const status = await this.#call(options.signal, () => this.#documents.status(jobId));
    if (status === undefined) {
      throw new SluiceError('NOT_FOUND', `no job ${jobId} (finished jobs are kept for a week)`, {
        details: { jobId },
      });
    }
    return status;
  }

  async wait(jobId: string, options: WaitOptions): Promise<DocumentJobResult> {
    this.#assertOpen();
    const deadline = waitDeadline(jobId, options);
    try {
      let unsubscribe: () => void = () => undefined;
      return await new Promise<DocumentJobResult>((resolve, reject) => {
        let settled = false;
        const outage = outageTolerance(
          (err) => err instanceof SluiceError && err.code === 'DEPENDENCY_UNAVAILABLE',
        );
        const settle = (finish: () => void) => {
          if (settled) return;
          settled = true;
          clearInterval(safety);
          deadline.signal.removeEventListener('abort', onAbort);
          unsubscribe();
          this.#waits.delete(close);
          finish();
        };
        const check = async () => {
          try {
            const status = await this.status(jobId, { signal: deadline.signal });
            outage.recovered();
            const result = outcomeOf(status);
            if (result !== undefined) settle(() => resolve(result));
            else options.onProgress?.(status);
          } catch (err) {
            // Redis away for a moment: the next event or re-check tries again.
            if (!deadline.signal.aborted && outage.tolerate(err)) return;
            settle(() => reject(err instanceof Error ? err : new Error(String(err))));
          }
        };
        const recheck = () => void check();
        const close = (err: Error) => settle(() => reject(err));
        const onAbort = () => settle(() => reject(abortReason(deadline.signal)));
        const safety = setInterval(recheck, SAFETY_RECHECK_MS);
        this.#waits.add(close);
        deadline.signal.addEventListener('abort', onAbort, { once: true });
        // Subscribe first, then read the state once: a job that ended before the subscription is
        // seen by the read, one that ends after it by its event.
        this.#call(deadline.signal, () => this.#events.subscribe(jobId, recheck)).then(
          (stop) => {
            unsubscribe = stop;
            if (settled) stop();
            else recheck();
          },
          (err: unknown) => settle(() => reject(err instanceof Error ? err : new Error(String(err)))),
        );
      });
    } finally {
      deadline.dispose();
    }
  }

  async remove(collection: string, docId: string, options: RequestOptions): Promise<{ jobId: string }> {
    this.#assertOpen();
    return this.#call(options.signal, () => this.#documents.remove({ collection, docId }));
  }

  async query(): Promise<QueryResult> {
    throw needsApi('query');
  }

  /** The collection's documents as Sluice recorded them when it indexed them (no Chroma here). */
  async list(collection: string, options: RequestOptions): Promise<DocumentList> {
    this.#assertOpen();
    const records = await this.#call(options.signal, () => this.#documents.indexedRecords(collection));
    return {
      documents: [...records]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([docId, record]) => ({
          docId,
          contentHash: record.contentHash,
          chunks: Object.keys(record.chunks).length,
          metadata: record.payload.metadata,
        })),
    };
  }

  async progress(collection: string, options: RequestOptions): Promise<CollectionProgress> {
    this.#assertOpen();
    return this.#call(options.signal, () => this.#documents.collectionProgress(collection));
  }

  async audit(): Promise<AuditReport> {
    throw needsApi('audit');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new SluiceError('SHUTTING_DOWN', 'the Sluice client was closed');
    for (const close of [...this.#waits]) close(closed);
    await this.#events.close().catch(() => undefined);
    await this.#documents.close().catch(() => undefined);
    if (this.#connection.status === 'ready') await this.#connection.quit().catch(() => undefined);
    this.#connection.disconnect();
  }

  /**
   * Writes an upload under its sha256, as the API does: staged, kept from the upload sweep, then
   * committed. The bytes are read once and hashed as they go, so the stored bytes are the hashed ones.
   */
  async #store(store: UploadStore, source: Readable, signal: AbortSignal | undefined): Promise<string> {
    const staged = await store.stage(source, signal ? { signal } : {});
    try {
      await this.#documents.protectUpload(staged.sha256);
      return await staged.commit();
    } finally {
      await staged.discard();
    }
  }

  /** The job payload for a document, after writing its bytes to the upload store if needed. */
  async #request(doc: ResolvedDocument, signal: AbortSignal | undefined): Promise<IngestRequest> {
    const base = {
      collection: doc.collection,
      docId: doc.docId,
      source: sourceOf(doc),
      metadata: doc.metadata,
    };
    const store = this.#uploads;
    const { content } = doc;
    switch (content.kind) {
      case 'file': {
        if (store === undefined) {
          throw invalidRequest(
            'storageDir',
            "sending a file in Redis mode needs storageDir (the workers' STORAGE_DIR, mounted here) or storageUrl (their STORAGE_URL): workers read uploads from it",
          );
        }
        // No `type`: the worker decides from the bytes and the name, as it does for API uploads.
        const key = await this.#store(store, createReadStream(content.path), signal);
        return { ...base, contentHash: key, storageKey: key };
      }
      case 'text': {
        const type = doc.type === 'markdown' ? 'markdown' : 'text';
        if (Buffer.byteLength(content.text) <= MAX_INLINE_TEXT_BYTES) {
          return { ...base, contentHash: contentHash(content.text), text: content.text, type };
        }
        if (store === undefined) {
          throw invalidRequest(
            'text',
            `text over ${MAX_INLINE_TEXT_BYTES} bytes needs storageDir or storageUrl in Redis mode: only smaller texts travel inside the job`,
          );
        }
        const key = await this.#store(store, Readable.from([Buffer.from(content.text)]), signal);
        return { ...base, contentHash: key, storageKey: key, type };
      }
      case 'bytes': {
        if (store !== undefined) {
          const key = await this.#store(store, Readable.from([Buffer.from(content.bytes)]), signal);
          return { ...base, contentHash: key, storageKey: key };
        }
        const inlineText =
          doc.type !== 'pdf' &&
          content.bytes.byteLength <= MAX_INLINE_TEXT_BYTES &&
          !content.bytes.includes(0) &&
          isUtf8(content.bytes);
        if (!inlineText) {
          throw invalidRequest(
            'storageDir',
            `bytes other than UTF-8 text of at most ${MAX_INLINE_TEXT_BYTES} bytes (a PDF, say) need storageDir or storageUrl in Redis mode: workers read them from it`,
          );
        }
        // Valid UTF-8 decodes and re-encodes to the same bytes, so the hash is the bytes' hash.
        const text = Buffer.from(content.bytes).toString('utf8');
        return { ...base, contentHash: contentHash(content.bytes), text, type: doc.type ?? 'text' };
      }
    }
  }

  /**
   * Runs one Redis operation, waiting for the connection at most `requestTimeoutMs` (ioredis
   * reconnects with backoff meanwhile), and normalises what it throws.
   */
  async #call<T>(signal: AbortSignal | undefined, operation: () => Promise<T>): Promise<T> {
    const timeout = AbortSignal.timeout(this.#options.requestTimeoutMs);
    const limit = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      return await raceAbort(
        (async () => {
          await this.#documents.queue.waitUntilReady();
          return operation();
        })(),
        limit,
      );
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal);
      if (err instanceof SluiceError) throw err;
      if (timeout.aborted || this.#connection.status !== 'ready') {
        const why = this.#lastError ? `: ${this.#lastError.message}` : '';
        throw new SluiceError(
          'DEPENDENCY_UNAVAILABLE',
          `Redis at ${redactUrl(this.#options.redisUrl)} did not answer within ${this.#options.requestTimeoutMs} ms${why}`,
          { cause: err },
        );
      }
      throw toSluiceError(err);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new SluiceError('SHUTTING_DOWN', 'the Sluice client was closed');
  }
}

function needsApi(what: string): SluiceError {
  return invalidRequest(
    'apiUrl',
    `${what} needs the HTTP API: a client in Redis mode reaches only the queue (create it with { apiUrl, token })`,
  );
}

/** The URL without credentials, for error messages. */
function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}
