import {
  deleteDocumentJob,
  documentVersion,
  ingestDocumentJob,
  type DocumentJobResult,
  type IngestDocumentPayload,
} from '@sluice/core';
import type { JobContext, WorkerRuntime } from '@sluice/core/process';
import type { DocumentLease, DocumentLock, IndexedRecord } from '@sluice/core/queue';
import type { IngestPipeline } from '@sluice/ingest';

/**
 * Points where tests stop a job on purpose (deterministic fault injection): each is awaited at
 * its place, with the job's ID.
 */
export interface DocumentHandlerHooks {
  /** The job holds its document and is about to work on it; `signal` is the attempt's (job and lease). */
  acquired?: (jobId: string, signal: AbortSignal) => Promise<void>;
  /** The job found it was overtaken and is about to complete as superseded. */
  superseded?: (jobId: string) => Promise<void>;
  /** The job wrote its version and is about to record it and release the document. */
  beforeCommit?: (jobId: string) => Promise<void>;
}

/** What {@link registerDocumentHandlers} needs. */
export interface DocumentHandlerOptions {
  pipeline: IngestPipeline;
  /** One attempt per document at a time, fenced by the attempt's token. */
  locks: DocumentLock;
  /** How long a job waits (as delayed, without spending an attempt) while another holds its document. @defaultValue 500 */
  lockRetryMs?: number;
  /** Test-only fault points. @defaultValue none */
  hooks?: DocumentHandlerHooks;
}

/**
 * Registers the `ingest-document` and `delete-document` handlers on a runtime.
 *
 * Last write wins per document. A job may work on its document only while its submission is the
 * document's latest and its attempt holds the document's lease (fenced by the attempt's token,
 * so a stalled twin cannot write beside the live attempt). Else it completes as `superseded`, or
 * waits (delayed, no attempt spent) while another attempt holds the document. Every write runs
 * under the job's signal and the lease's: a write of an attempt that lost its lease is
 * cancelled, and the document is released only once no write of the attempt can still land. The
 * job that indexed a version records it (version, payload, chunks) in the same step that
 * releases the document.
 */
export function registerDocumentHandlers(runtime: WorkerRuntime, options: DocumentHandlerOptions): void {
  const { pipeline, locks, hooks = {} } = options;
  const retryMs = options.lockRetryMs ?? 500;

  async function exclusively(
    ctx: JobContext<{ collection: string; docId: string }>,
    overtaken: DocumentJobResult,
    work: (
      lease: DocumentLease,
      indexed: IndexedRecord | undefined,
      signal: AbortSignal,
    ) => Promise<DocumentJobResult>,
  ): Promise<DocumentJobResult> {
    const { collection, docId } = ctx.payload;
    const jobId = ctx.job.id!;
    const taken = await locks.acquire(collection, docId, jobId, `${jobId}:${ctx.token}`);
    if (taken.state === 'superseded') {
      await hooks.superseded?.(jobId);
      ctx.log.info('a later submission of this document exists; nothing to do');
      return overtaken;
    }
    if (taken.state === 'locked') {
      return ctx.defer(retryMs + Math.floor(Math.random() * retryMs), 'document held by another attempt');
    }
    const { lease, indexed } = taken;
    const signal = AbortSignal.any([ctx.signal, lease.signal]);
    try {
      await hooks.acquired?.(jobId, signal);
      return await work(lease, indexed, signal);
    } catch (err) {
      // Every store call has settled by now (they settle before they reject): release.
      await lease.release().catch(() => undefined);
      // A lost lease is why the work stopped, whatever the call that noticed it threw.
      throw lease.signal.aborted && !ctx.signal.aborted ? lease.signal.reason : err;
    }
  }

  runtime.register(ingestDocumentJob, (ctx) => {
    const payload: IngestDocumentPayload = ctx.payload;
    const version = documentVersion({
      contentHash: payload.contentHash,
      metadata: payload.metadata,
      fingerprint: pipeline.fingerprint,
    });
    const base = {
      docId: payload.docId,
      contentHash: payload.contentHash,
      embedded: 0,
      updated: 0,
      deleted: 0,
    };
    return exclusively(
      ctx,
      { ...base, chunks: 0, skipped: 0, superseded: true },
      async (lease, indexed, signal) => {
        if (indexed?.version === version && !payload.repair) {
          // Already indexed (Sluice's own record, however long completed jobs are kept).
          await lease.release();
          const chunks = Object.keys(indexed.chunks).length;
          ctx.log.info({ chunks }, 'this version is indexed already');
          return { ...base, chunks, skipped: chunks };
        }
        const outcome = await pipeline.ingest(payload, {
          signal,
          log: ctx.log,
          progress: ctx.progress,
          isCurrent: () => lease.isCurrent(),
        });
        if (!outcome.chunks) {
          await hooks.superseded?.(ctx.job.id!);
          await lease.release();
          return outcome.result;
        }
        await hooks.beforeCommit?.(ctx.job.id!);
        await lease.commit({
          version,
          contentHash: payload.contentHash,
          fingerprint: pipeline.fingerprint,
          jobId: ctx.job.id!,
          payload: { ...payload, repair: undefined },
          chunks: outcome.chunks,
          indexedAt: Date.now(),
        });
        return outcome.result;
      },
    );
  });

  runtime.register(deleteDocumentJob, (ctx) =>
    exclusively(
      ctx,
      {
        docId: ctx.payload.docId,
        chunks: 0,
        embedded: 0,
        skipped: 0,
        updated: 0,
        deleted: 0,
        superseded: true,
      },
      async (lease, _indexed, signal) => {
        const result = await pipeline.remove(ctx.payload.collection, ctx.payload.docId, signal);
        await hooks.beforeCommit?.(ctx.job.id!);
        await lease.commit(null);
        return result;
      },
    ),
  );
}
