import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  SluiceError,
  chunkId,
  contentHash as sha256,
  ordinalsAmongEqual,
  pipelineFingerprint,
  type DocumentJobResult,
  type IngestDocumentPayload,
  type Logger,
} from '@sluice/core';
import type { ChromaRecord, ChromaStore } from './chroma-store.js';
import { toChromaMetadata } from './chroma-store.js';
import { detectDocumentType } from './document-type.js';
import { loadPdf } from './pdf-loader.js';
import { splitDocument, splitterSettings, type SplitOptions } from './splitter.js';
import { loadText } from './text-loader.js';
import type { Chunk, Embedder, LoadedDocument } from './types.js';

/** Options for {@link IngestPipeline}. */
export interface IngestPipelineOptions {
  store: ChromaStore;
  embedder: Embedder;
  /** Where uploaded files live (`STORAGE_DIR`). */
  storageDir: string;
  /** Splitter settings; part of the pipeline fingerprint. */
  split?: SplitOptions;
  /** PDF parse limits. */
  pdf?: { timeoutMs?: number; maxMemoryMb?: number };
  /**
   * Chunks embedded and written per batch. A batch is the unit of redone work after a crash
   * and the point where preemption is checked. @defaultValue 256
   */
  batchSize?: number;
}

/** One chunk with everything needed to write it. */
export interface PlannedChunk {
  id: string;
  text: string;
  metadata: ChromaRecord['metadata'];
}

/** The chunks a document version yields, before anything is written. */
export interface DocumentPlan {
  pages?: number;
  chunks: PlannedChunk[];
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
 * One document version in, exactly its chunks in Chroma: parse → split → deterministic chunk
 * IDs → compare with what is stored → embed and upsert only the missing chunks, batch by batch
 * → delete the document's chunks that are not in the new set. Safe to run again at any point:
 * a resumed run skips what an interrupted one already stored.
 */
export class IngestPipeline {
  /** Covers splitter settings, embedding model and pipeline version. */
  readonly fingerprint: string;
  readonly #o: Required<Omit<IngestPipelineOptions, 'pdf' | 'split'>> &
    Pick<IngestPipelineOptions, 'pdf' | 'split'>;

  constructor(options: IngestPipelineOptions) {
    this.#o = { batchSize: 256, ...options };
    this.fingerprint = pipelineFingerprint({
      ...splitterSettings(options.split),
      embedder: options.embedder.id,
    });
  }

  /** Reads, checks, parses and splits a document version, and derives its chunk IDs and metadata. */
  async plan(
    payload: IngestDocumentPayload,
    signal?: AbortSignal,
    onPage?: (page: number, pages: number) => void,
  ): Promise<DocumentPlan> {
    const bytes = await this.#content(payload);
    if (sha256(bytes) !== payload.contentHash) {
      throw new SluiceError('INVALID_REQUEST', 'contentHash does not match the content', {
        details: { field: 'contentHash' },
      });
    }
    const type = payload.type ?? detectDocumentType(bytes, payload.source);
    const doc: LoadedDocument =
      type === 'pdf'
        ? await loadPdf(bytes, {
            ...this.#o.pdf,
            ...(signal ? { signal } : {}),
            ...(onPage ? { onPage } : {}),
          })
        : loadText(bytes, type);
    const chunks = await splitDocument(doc, this.#o.split);
    if (chunks.length === 0) throw new SluiceError('NO_TEXT', 'the document has no text to index');
    const ordinals = ordinalsAmongEqual(chunks.map((c) => c.text));
    return {
      ...(doc.pages === undefined ? {} : { pages: doc.pages }),
      chunks: chunks.map((chunk, i) => ({
        id: chunkId({
          collection: payload.collection,
          docId: payload.docId,
          fingerprint: this.fingerprint,
          text: chunk.text,
          ordinal: ordinals[i]!,
        }),
        text: chunk.text,
        metadata: this.#metadata(payload, chunk),
      })),
    };
  }

  /** Ingests one document version; see the class comment. */
  async ingest(payload: IngestDocumentPayload, ctx: IngestContext): Promise<DocumentJobResult> {
    const { collection, docId, contentHash } = payload;
    const plan = await this.plan(payload, ctx.signal, (page, pages) => {
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
    const missing = plan.chunks.filter((c) => !stored.has(c.id));
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
    const keep = new Set(plan.chunks.map((c) => c.id));
    const stale = [...stored].filter((id) => !keep.has(id));
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

  async #content(payload: IngestDocumentPayload): Promise<Uint8Array> {
    if (payload.text !== undefined) return Buffer.from(payload.text, 'utf8');
    const path = join(this.#o.storageDir, payload.storageKey!);
    try {
      return await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new SluiceError(
          'FILE_MISSING',
          `the uploaded file ${payload.storageKey} is not in the storage directory`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
  }

  #metadata(payload: IngestDocumentPayload, chunk: Chunk): ChromaRecord['metadata'] {
    return {
      ...toChromaMetadata(payload.metadata),
      ...toChromaMetadata({
        collection: payload.collection,
        contentHash: payload.contentHash,
        source: payload.source,
        chunkIndex: chunk.index,
        page: chunk.page,
        headingPath: chunk.headingPath,
        lineStart: chunk.lineStart,
        lineEnd: chunk.lineEnd,
      }),
      docId: payload.docId,
    };
  }
}
