import { openAsBlob } from 'node:fs';
import {
  MAX_INLINE_TEXT_BYTES,
  MEDIA_TYPES,
  SluiceError,
  auditReportSchema,
  collectionProgressSchema,
  codeForStatus,
  deleteAcceptedSchema,
  isTextDocumentType,
  documentListSchema,
  errorBodySchema,
  ingestAcceptedSchema,
  ingestTextBodySchema,
  jobStatusSchema,
  parseRetryAfter,
  queryBodySchema,
  queryResultSchema,
  type AuditReport,
  type CollectionProgress,
  type DocumentJobResult,
  type DocumentList,
  type IngestAccepted,
  type IngestTextBody,
  type JobStatus,
  type QueryResult,
} from '@sluice/core';
import { createParser } from 'eventsource-parser';
import type { z } from 'zod';
import type { ResolvedDocument } from './document-input.js';
import { sleep } from './abort.js';
import { ApiError } from './errors.js';
import { outageTolerance, outcomeOf, waitDeadline, type WaitOptions } from './job-outcome.js';
import {
  GATEWAY_HTTP_STATUSES,
  TRANSIENT_HTTP_STATUSES,
  TRANSIENT_NETWORK_CODES,
  networkErrorCode,
  withRetry,
  type ResolvedRetryOptions,
  type RetryPolicy,
} from './retry.js';
import type { RequestOptions, SluiceTransport } from './transport.js';
import { validate } from './validation.js';

/** What {@link HttpTransport} needs, fully resolved. */
export interface HttpTransportOptions {
  /** Base URL of the API, e.g. `http://localhost:3001`. */
  apiUrl: string;
  /** Bearer token; none for an API started with `AUTH_DISABLED=true`. */
  token: string | undefined;
  retry: ResolvedRetryOptions;
  /** Per attempt. */
  requestTimeoutMs: number;
  /** Told about each retry. */
  onRetry: RetryPolicy['onRetry'];
}

/** Pause before a job's event stream is opened again after it ended early or broke off. */
const RECONNECT_MS = 1000;

type RequestBody = { json: unknown } | { form: FormData } | undefined;

/** The SDK's HTTP mode: every call is one request to the Sluice API, retried when transient. */
export class HttpTransport implements SluiceTransport {
  readonly #options: HttpTransportOptions;
  readonly #base: string;

  constructor(options: HttpTransportOptions) {
    this.#options = options;
    this.#base = options.apiUrl.replace(/\/+$/, '');
  }

  async ingest(doc: ResolvedDocument, options: RequestOptions): Promise<IngestAccepted> {
    const path = `/v1/collections/${encodeURIComponent(doc.collection)}/documents`;
    const { content } = doc;
    if (content.kind === 'text' && Buffer.byteLength(content.text) <= MAX_INLINE_TEXT_BYTES) {
      const body: IngestTextBody = {
        docId: doc.docId,
        text: content.text,
        ...(isTextDocumentType(doc.type) ? { type: doc.type } : {}),
        metadata: doc.metadata,
      };
      return this.#request(
        'POST',
        path,
        { json: validate(ingestTextBodySchema, body, '') },
        ingestAcceptedSchema,
        options,
      );
    }
    const form = new FormData();
    // Fields before the file: a streaming multipart parser sees only the fields that precede it.
    form.append('docId', doc.docId);
    if (Object.keys(doc.metadata).length > 0) form.append('metadata', JSON.stringify(doc.metadata));
    const mediaType = doc.type === undefined ? 'application/octet-stream' : MEDIA_TYPES[doc.type];
    switch (content.kind) {
      case 'file':
        // A Blob backed by the file: undici streams it from disk, on every attempt anew.
        form.append('file', await openAsBlob(content.path, { type: mediaType }), doc.name ?? 'document');
        break;
      case 'bytes':
        form.append(
          'file',
          new Blob([toArrayBufferView(content.bytes)], { type: mediaType }),
          doc.name ?? 'document',
        );
        break;
      case 'text':
        // Too large to travel inline in JSON: sent as a file instead, same surface for the caller.
        form.append(
          'file',
          new Blob([content.text], { type: `${mediaType}; charset=utf-8` }),
          doc.name ?? (doc.type === 'markdown' ? 'document.md' : 'document.txt'),
        );
        break;
    }
    return this.#request('POST', path, { form }, ingestAcceptedSchema, options);
  }

  async status(jobId: string, options: RequestOptions): Promise<JobStatus> {
    return this.#request('GET', `/v1/jobs/${encodeURIComponent(jobId)}`, undefined, jobStatusSchema, options);
  }

  /**
   * Follows the job's event stream (`GET /v1/jobs/{jobId}/events`) to its end, opening it again
   * when it ends early (an API instance shutting down) and riding out a passing outage.
   */
  async wait(jobId: string, options: WaitOptions): Promise<DocumentJobResult> {
    const deadline = waitDeadline(jobId, options);
    try {
      const outage = outageTolerance((err) =>
        err instanceof ApiError
          ? TRANSIENT_HTTP_STATUSES.has(err.httpStatus)
          : err instanceof SluiceError && err.code === 'DEPENDENCY_UNAVAILABLE',
      );
      for (;;) {
        let ended: JobStatus | undefined;
        try {
          ended = await this.#follow(jobId, deadline.signal, options.onProgress);
          outage.recovered();
        } catch (err) {
          const error = this.#normalise(err, deadline.signal);
          if (deadline.signal.aborted || !outage.tolerate(error)) throw error;
        }
        // Completed, or failed (outcomeOf throws the job's error).
        if (ended) return outcomeOf(ended)!;
        await sleep(RECONNECT_MS, deadline.signal);
      }
    } finally {
      deadline.dispose();
    }
  }

  /** Reads one event stream of a job; resolves with its final state, or undefined if it ended first. */
  async #follow(
    jobId: string,
    signal: AbortSignal,
    onProgress: WaitOptions['onProgress'],
  ): Promise<JobStatus | undefined> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.#options.token !== undefined) headers.authorization = `Bearer ${this.#options.token}`;
    const response = await fetch(`${this.#base}/v1/jobs/${encodeURIComponent(jobId)}/events`, {
      headers,
      signal,
    });
    if (!response.ok || !response.body) {
      await this.#read(response, jobStatusSchema, `GET /v1/jobs/${jobId}/events`);
      return undefined;
    }
    // The stream is read to its end, or to the job's end, then released.
    let ended: JobStatus | undefined;
    const parser = createParser({
      onEvent: (event) => {
        if (ended) return;
        const parsed = jobStatusSchema.safeParse(JSON.parse(event.data));
        if (!parsed.success) return;
        if (event.event === 'completed' || event.event === 'failed') ended = parsed.data;
        else onProgress?.(parsed.data);
      },
    });
    const decoder = new TextDecoder();
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    try {
      while (!ended) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
    return ended;
  }

  async remove(collection: string, docId: string, options: RequestOptions): Promise<{ jobId: string }> {
    const path = `/v1/collections/${encodeURIComponent(collection)}/documents/${encodeURIComponent(docId)}`;
    return this.#request('DELETE', path, undefined, deleteAcceptedSchema, options);
  }

  async query(collection: string, text: string, k: number, options: RequestOptions): Promise<QueryResult> {
    const path = `/v1/collections/${encodeURIComponent(collection)}/query`;
    const body = validate(queryBodySchema, { text, k }, '');
    return this.#request('POST', path, { json: body }, queryResultSchema, options);
  }

  async list(collection: string, options: RequestOptions): Promise<DocumentList> {
    const path = `/v1/collections/${encodeURIComponent(collection)}/documents`;
    return this.#request('GET', path, undefined, documentListSchema, options);
  }

  async progress(collection: string, options: RequestOptions): Promise<CollectionProgress> {
    const path = `/v1/collections/${encodeURIComponent(collection)}/progress`;
    return this.#request('GET', path, undefined, collectionProgressSchema, options);
  }

  async audit(collection: string, repair: boolean, options: RequestOptions): Promise<AuditReport> {
    const path = `/v1/collections/${encodeURIComponent(collection)}/audit`;
    return this.#request('POST', path, { json: { repair } }, auditReportSchema, options);
  }

  async close(): Promise<void> {
    // Nothing held: fetch's connection pool closes idle sockets by itself.
  }

  async #request<TSchema extends z.ZodType>(
    method: string,
    path: string,
    body: RequestBody,
    schema: TSchema,
    options: RequestOptions,
  ): Promise<z.output<TSchema>> {
    const url = `${this.#base}${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#options.token !== undefined) headers.authorization = `Bearer ${this.#options.token}`;
    if (body !== undefined && 'json' in body) headers['content-type'] = 'application/json';
    const payload = body === undefined ? undefined : 'json' in body ? JSON.stringify(body.json) : body.form;
    try {
      return await withRetry(
        async () => {
          const attemptSignal = AbortSignal.timeout(this.#options.requestTimeoutMs);
          const response = await fetch(url, {
            method,
            headers,
            ...(payload === undefined ? {} : { body: payload }),
            signal: options.signal ? AbortSignal.any([options.signal, attemptSignal]) : attemptSignal,
          });
          return this.#read(response, schema, `${method} ${path}`);
        },
        {
          options: this.#options.retry,
          signal: options.signal,
          transient: isTransient,
          onRetry: this.#options.onRetry,
        },
      );
    } catch (err) {
      throw this.#normalise(err, options.signal);
    }
  }

  async #read<TSchema extends z.ZodType>(
    response: Response,
    schema: TSchema,
    what: string,
  ): Promise<z.output<TSchema>> {
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) throw apiErrorOf(response, json);
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new SluiceError(
        'INTERNAL',
        `unexpected answer to ${what}: ${issue ? `${issue.path.join('.') || '(body)'}: ${issue.message}` : 'invalid body'}`,
        { cause: parsed.error, details: { httpStatus: response.status } },
      );
    }
    return parsed.data;
  }

  #normalise(err: unknown, signal: AbortSignal | undefined): unknown {
    if (err instanceof SluiceError || signal?.aborted) return err;
    if (err instanceof DOMException && err.name === 'TimeoutError') {
      return new SluiceError(
        'DEPENDENCY_UNAVAILABLE',
        `the Sluice API at ${this.#base} did not answer within ${this.#options.requestTimeoutMs} ms`,
        { cause: err },
      );
    }
    const code = networkErrorCode(err);
    if (code !== undefined) {
      return new SluiceError(
        'DEPENDENCY_UNAVAILABLE',
        `cannot reach the Sluice API at ${this.#base} (${code})`,
        {
          cause: err,
          details: { network: code },
        },
      );
    }
    return err;
  }
}

function isTransient(err: unknown): boolean | { afterMs: number } {
  if (err instanceof ApiError) {
    if (!TRANSIENT_HTTP_STATUSES.has(err.httpStatus)) return false;
    const after = err.details.retryAfterMs;
    return typeof after === 'number' ? { afterMs: after } : true;
  }
  if (err instanceof SluiceError) return false;
  if (err instanceof DOMException && err.name === 'TimeoutError') return true;
  const code = networkErrorCode(err);
  return code !== undefined && TRANSIENT_NETWORK_CODES.has(code);
}

function apiErrorOf(response: Response, json: unknown): ApiError {
  const body = errorBodySchema.safeParse(json);
  const after = parseRetryAfter(response.headers.get('retry-after'));
  const details = after === undefined ? {} : { retryAfterMs: after };
  if (body.success) {
    return new ApiError(body.data.error.code, body.data.error.message, {
      httpStatus: response.status,
      field: body.data.error.field,
      details,
    });
  }
  // No code of the API's own: a gateway or load balancer answered. Its 502/503/504 mean the API
  // is out of reach for now, whatever those statuses mean in an answer of the API itself.
  const code = GATEWAY_HTTP_STATUSES.has(response.status)
    ? 'DEPENDENCY_UNAVAILABLE'
    : codeForStatus(response.status);
  return new ApiError(code, `the API answered ${response.status} ${response.statusText}`.trim(), {
    httpStatus: response.status,
    details,
  });
}

// TypeScript's Blob takes views over ArrayBuffer only; a view over a SharedArrayBuffer is copied.
function toArrayBufferView(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}
