import { SluiceError, type DocumentJobResult, type IngestDocumentPayload, type Logger } from '@sluice/core';
import { diffChunks, metadataDigest } from './chunk-plan.js';
import type { ChunkStore } from './chunk-store.js';
import type { Planner } from './document-planner.js';
import type { Embedder } from './types.js';

/** Least time between two progress writes of one job while it parses. */
const PROGRESS_INTERVAL_MS = 2000;

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

/** What {@link IngestPipeline.ingest} did. */
export interface IngestOutcome {
  /** The job's result. */
  result: DocumentJobResult;
  /**
   * The document's chunks now stored, by ID, with the digest of each one's metadata: what Sluice
   * records as indexed. Absent when the job was overtaken (`result.superseded`).
   */
  chunks?: Record<string, string>;
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
   * Asked between batches and before deleting stale chunks, never before the first batch (the
   * job checked when it took the document).
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

  /**
   * Ingests one document version; see the class comment. Every store call runs under
   * `ctx.signal`: when it aborts, requests under way are cancelled and have settled before this
   * rejects, so the caller may release the document at once.
   */
  async ingest(payload: IngestDocumentPayload, ctx: IngestContext): Promise<IngestOutcome> {
    const { collection, docId, contentHash } = payload;
    // Parse progress of a long PDF, at most once per PROGRESS_INTERVAL_MS: a short document
    // writes none (its job ends before anyone would read it), so it costs no Redis command.
    let reportedAt = Date.now();
    const plan = await this.#o.planner.plan(payload, ctx.signal, (page, pages) => {
      if (page === pages || Date.now() - reportedAt < PROGRESS_INTERVAL_MS) return;
      reportedAt = Date.now();
      void ctx.progress({ pages, pagesParsed: page }).catch(() => undefined);
    });
    const base = {
      docId,
      contentHash,
      chunks: plan.chunks.length,
      ...(plan.pages ? { pages: plan.pages } : {}),
    };
    const stored = await this.#o.store.storedChunks(collection, docId, ctx.signal);
    const { missing, changed, stale } = diffChunks(plan.chunks, stored);
    let written = 0;
    for (let start = 0; start < missing.length; start += this.#o.batchSize) {
      ctx.signal.throwIfAborted();
      // The job checked it was the latest submission when it took the document; from the second
      // batch on it checks again, so that an overtaken job stops within a batch.
      if (start > 0 && !(await ctx.isCurrent())) return this.#superseded(base, written, ctx);
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
      if (start + batch.length < missing.length) {
        await ctx.progress({
          pages: plan.pages,
          pagesParsed: plan.pages,
          chunks: plan.chunks.length,
          chunksWritten: written,
        });
      }
    }
    // Kept chunks whose metadata is an earlier version's (a page shift, new caller metadata):
    // brought up to date in place, with no embedding.
    await this.#o.store.updateMetadata(
      collection,
      changed.map(({ chunk, previous }) => ({ id: chunk.id, metadata: chunk.metadata, previous })),
      ctx.signal,
    );
    // Deleting stale chunks is the one step that must never run for an overtaken version:
    // it would remove chunks the later version needs.
    if (stale.length > 0) {
      if (!(await ctx.isCurrent())) return this.#superseded(base, written, ctx);
      await this.#o.store.deleteIds(collection, stale, ctx.signal);
    }
    ctx.log.info(
      { chunks: plan.chunks.length, embedded: written, updated: changed.length, deleted: stale.length },
      'document indexed',
    );
    return {
      result: {
        ...base,
        embedded: written,
        skipped: plan.chunks.length - written - changed.length,
        updated: changed.length,
        deleted: stale.length,
      },
      chunks: Object.fromEntries(plan.chunks.map((c) => [c.id, metadataDigest(c.metadata)])),
    };
  }

  /** Removes every chunk of a document. */
  async remove(collection: string, docId: string, signal?: AbortSignal): Promise<DocumentJobResult> {
    const deleted = await this.#o.store.deleteDocument(collection, docId, signal);
    return { docId, chunks: 0, embedded: 0, skipped: 0, updated: 0, deleted };
  }

  #superseded(
    base: Omit<DocumentJobResult, 'embedded' | 'skipped' | 'updated' | 'deleted'>,
    written: number,
    ctx: IngestContext,
  ): IngestOutcome {
    ctx.log.info(
      { written },
      'a later submission of this document overtook this job; leaving the document to it',
    );
    return { result: { ...base, embedded: written, skipped: 0, updated: 0, deleted: 0, superseded: true } };
  }
}
