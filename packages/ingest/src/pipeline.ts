import { SluiceError, type DocumentJobResult, type IngestDocumentPayload, type Logger } from '@sluice/core';
import { diffChunks } from './chunk-plan.js';
import type { ChunkStore } from './chunk-store.js';
import type { Planner } from './document-planner.js';
import type { Embedder } from './types.js';

/** Options for {@link IngestPipeline}. */
export interface IngestPipelineOptions {
  /** Turns a document version into its chunks ({@link DocumentPlanner}); must plan for `embedder`. */
  planner: Planner;
  store: ChunkStore;
  embedder: Embedder;
  /**
   * Chunks embedded and written per batch. A batch is the unit of redone work after a crash
   * and the point where preemption is checked. @defaultValue 256
   */
  batchSize?: number;
}

/** What the pipeline needs from the job around it. */
export interface IngestContext {
  /** Aborted when the job must stop (checked between batches). */
  signal: AbortSignal;
  log: Logger;
  progress: (value: Record<string, unknown>) => Promise<void>;
  /**
   * Whether this job is still the document's latest submission and holds its lock. When it
   * turns false the pipeline stops at the next batch and leaves the document to the later job.
   */
  isCurrent: () => Promise<boolean>;
}

/**
 * One document version in, exactly its chunks in the store: plan (parse → split → deterministic
 * chunk IDs, {@link DocumentPlanner}) → compare with what is stored → embed and upsert only the missing chunks, batch by batch
 * → delete the document's chunks that are not in the new set. Safe to run again at any point:
 * a resumed run skips what an interrupted one already stored.
 */
export class IngestPipeline {
  /** Covers splitter settings, embedding model and pipeline version. */
  readonly fingerprint: string;
  readonly #o: Required<IngestPipelineOptions>;

  /** @throws SluiceError `CONFIG_INVALID` when the planner plans for another embedder */
  constructor(options: IngestPipelineOptions) {
    if (options.planner.embedderId !== options.embedder.id) {
      throw new SluiceError(
        'CONFIG_INVALID',
        `the planner plans for embedder ${options.planner.embedderId}, the pipeline embeds with ${options.embedder.id}`,
      );
    }
    this.#o = { batchSize: 256, ...options };
    this.fingerprint = options.planner.fingerprint;
  }

  /** Ingests one document version; see the class comment. */
  async ingest(payload: IngestDocumentPayload, ctx: IngestContext): Promise<DocumentJobResult> {
    const { collection, docId, contentHash } = payload;
    const plan = await this.#o.planner.plan(payload, ctx.signal, (page, pages) => {
      if (page === pages || page % 10 === 0)
        void ctx.progress({ pages, pagesParsed: page }).catch(() => undefined);
    });
    const base = {
      docId,
      contentHash,
      chunks: plan.chunks.length,
      ...(plan.pages ? { pages: plan.pages } : {}),
    };
    const stored = await this.#o.store.storedChunkIds(collection, docId, ctx.signal);
    const { missing, stale } = diffChunks(plan.chunks, stored);
    let written = 0;
    const report = () =>
      ctx.progress({
        pages: plan.pages,
        pagesParsed: plan.pages,
        chunks: plan.chunks.length,
        chunksWritten: written,
        skipped: plan.chunks.length - missing.length,
      });
    await report();
    for (let start = 0; start < missing.length; start += this.#o.batchSize) {
      ctx.signal.throwIfAborted();
      if (!(await ctx.isCurrent())) return this.#superseded(base, written, ctx);
      const batch = missing.slice(start, start + this.#o.batchSize);
      const vectors = await this.#o.embedder.embed(
        batch.map((c) => c.text),
        ctx.signal,
      );
      await this.#o.store.upsert(
        collection,
        batch.map((c, i) => ({ id: c.id, embedding: vectors[i]!, document: c.text, metadata: c.metadata })),
        ctx.signal,
      );
      written += batch.length;
      // One line per stored batch: what the rollout lab counts to measure redone work.
      ctx.log.debug({ chunks: batch.length, written }, 'batch written');
      await report();
    }
    // Deleting stale chunks is the one step that must never run for an overtaken version:
    // it would remove chunks the later version needs.
    if (!(await ctx.isCurrent())) return this.#superseded(base, written, ctx);
    if (stale.length) await this.#o.store.deleteIds(collection, stale, ctx.signal);
    ctx.log.info(
      { chunks: plan.chunks.length, embedded: written, deleted: stale.length },
      'document indexed',
    );
    return { ...base, embedded: written, skipped: plan.chunks.length - written, deleted: stale.length };
  }

  /** Removes every chunk of a document. */
  async remove(collection: string, docId: string, signal?: AbortSignal): Promise<DocumentJobResult> {
    const deleted = await this.#o.store.deleteDocument(collection, docId, signal);
    return { docId, chunks: 0, embedded: 0, skipped: 0, deleted };
  }

  #superseded(
    base: Omit<DocumentJobResult, 'embedded' | 'skipped' | 'deleted'>,
    written: number,
    ctx: IngestContext,
  ): DocumentJobResult {
    ctx.log.info(
      { written },
      'a later submission of this document overtook this job; leaving the document to it',
    );
    return { ...base, embedded: written, skipped: 0, deleted: 0, superseded: true };
  }
}
