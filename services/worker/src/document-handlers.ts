import { deleteDocumentJob, ingestDocumentJob, type DocumentJobResult } from '@sluice/core';
import type { JobContext, WorkerRuntime } from '@sluice/core/process';
import { DELETED, type DocumentLock, type DocumentQueue } from '@sluice/core/queue';
import type { IngestPipeline } from '@sluice/ingest';

/** What {@link registerDocumentHandlers} needs. */
export interface DocumentHandlerOptions {
  pipeline: IngestPipeline;
  /** Reads each document's latest submission (last write wins). */
  documents: DocumentQueue;
  /** One job per document at a time. */
  locks: DocumentLock;
  /** How long a job waits (as delayed, without spending an attempt) while another holds its document. @defaultValue 500 */
  lockRetryMs?: number;
}

/**
 * Registers the `ingest-document` and `delete-document` handlers on a runtime.
 *
 * Last write wins per document: every job first checks that its version is still the
 * document's latest submission (else it completes at once as `superseded`), then takes the
 * document's lock (else it waits as delayed), and the pipeline re-checks between batches and
 * before deleting stale chunks. The job that was submitted last therefore always runs last,
 * alone, and its cleanup removes whatever an overtaken job wrote.
 */
export function registerDocumentHandlers(runtime: WorkerRuntime, options: DocumentHandlerOptions): void {
  const { pipeline, documents, locks } = options;
  const retryMs = options.lockRetryMs ?? 500;

  async function exclusively(
    ctx: JobContext<{ collection: string; docId: string }>,
    version: string,
    work: (isCurrent: () => Promise<boolean>) => Promise<DocumentJobResult>,
    overtaken: DocumentJobResult,
  ): Promise<DocumentJobResult> {
    const { collection, docId } = ctx.payload;
    const isLatest = async () => (await documents.latest(collection, docId))?.version === version;
    if (!(await isLatest())) {
      ctx.log.info('a later submission of this document exists; nothing to do');
      return overtaken;
    }
    const lock = await locks.acquire(collection, docId, ctx.job.id!);
    if (!lock)
      return ctx.defer(retryMs + Math.floor(Math.random() * retryMs), 'document locked by another job');
    try {
      return await work(async () => lock.held && (await isLatest()));
    } finally {
      await lock.release();
    }
  }

  runtime.register(ingestDocumentJob, (ctx) =>
    exclusively(
      ctx,
      ctx.payload.contentHash,
      async (isCurrent) => {
        const result = await pipeline.ingest(ctx.payload, {
          signal: ctx.signal,
          log: ctx.log,
          progress: ctx.progress,
          isCurrent,
        });
        // Recorded while the document's lock is still held, so no later job can interleave.
        if (!result.superseded) {
          await documents.markIndexed(ctx.payload.collection, ctx.payload.docId, ctx.payload.contentHash);
        }
        return result;
      },
      {
        docId: ctx.payload.docId,
        contentHash: ctx.payload.contentHash,
        chunks: 0,
        embedded: 0,
        skipped: 0,
        deleted: 0,
        superseded: true,
      },
    ),
  );

  runtime.register(deleteDocumentJob, (ctx) =>
    exclusively(
      ctx,
      DELETED,
      async () => {
        const result = await pipeline.remove(ctx.payload.collection, ctx.payload.docId, ctx.signal);
        await documents.markIndexed(ctx.payload.collection, ctx.payload.docId, undefined);
        return result;
      },
      {
        docId: ctx.payload.docId,
        chunks: 0,
        embedded: 0,
        skipped: 0,
        deleted: 0,
        superseded: true,
      },
    ),
  );
}
