import type * as api from '@sluice/core';
import type { ResolvedDocument } from './document-input.js';
import type { WaitOptions } from './job-outcome.js';

/** Options every request takes. */
export interface RequestOptions {
  /** Cancels the request; it rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
}

/**
 * How a {@link SluiceClient} reaches Sluice: over the HTTP API, or straight onto the queue.
 * Inputs arrive validated; transports only move them.
 */
export interface SluiceTransport {
  ingest(doc: ResolvedDocument, options: RequestOptions): Promise<api.IngestAccepted>;
  status(jobId: string, options: RequestOptions): Promise<api.JobStatus>;
  wait(jobId: string, options: WaitOptions): Promise<api.DocumentJobResult>;
  remove(collection: string, docId: string, options: RequestOptions): Promise<{ jobId: string }>;
  query(collection: string, text: string, k: number, options: RequestOptions): Promise<api.QueryResult>;
  list(collection: string, options: RequestOptions): Promise<api.DocumentList>;
  progress(collection: string, options: RequestOptions): Promise<api.CollectionProgress>;
  audit(collection: string, repair: boolean, options: RequestOptions): Promise<api.AuditReport>;
  close(): Promise<void>;
}
