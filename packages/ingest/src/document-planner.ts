import {
  SluiceError,
  contentHash as sha256,
  pipelineFingerprint,
  type IngestDocumentPayload,
} from '@sluice/core';
import { planChunks, type DocumentPlan } from './chunk-plan.js';
import { detectDocumentType } from './document-type.js';
import { loadPdf, type PdfLoadOptions } from './pdf-loader.js';
import type { PdfParsePool } from './pdf-parse-pool.js';
import { splitDocument, splitterSettings, type SplitOptions } from './splitter.js';
import { loadText } from './text-loader.js';
import type { Embedder, LoadedDocument } from './types.js';

/** What the planner needs of the upload store: the bytes under a content key. */
export interface UploadReader {
  /**
   * The bytes stored under `key`.
   * @throws SluiceError `FILE_MISSING` when there are none
   */
  read(key: string, signal?: AbortSignal): Promise<Uint8Array>;
}

/** Options for {@link DocumentPlanner}. */
export interface DocumentPlannerOptions {
  /** The embedder the chunks are for: its `id` is part of the pipeline fingerprint. */
  embedder: Pick<Embedder, 'id'>;
  /** The threads PDFs are parsed in; the planner's owner creates and closes it. */
  pdfPool: PdfParsePool;
  /** Where uploaded files are read from (a directory or object storage: `@sluice/storage`). */
  uploads: UploadReader;
  /** Splitter settings; part of the pipeline fingerprint. */
  split?: SplitOptions;
  /** PDF parse limits. */
  pdf?: Pick<PdfLoadOptions, 'timeoutMs' | 'maxMemoryMb'>;
}

/** What {@link IngestPipeline} needs from a planner; {@link DocumentPlanner} is the real one. */
export interface Planner {
  /** Covers splitter settings, embedding model and pipeline version. */
  readonly fingerprint: string;
  /** The `id` of the embedder the plans are for. */
  readonly embedderId: string;
  /** The chunks of one document version; see {@link DocumentPlanner.plan}. */
  plan(
    payload: IngestDocumentPayload,
    signal?: AbortSignal,
    onPage?: (page: number, pages: number) => void,
  ): Promise<DocumentPlan>;
}

/**
 * From a document version to its chunks, before anything is embedded or written: read the
 * content, check its hash, detect its type, load, split, and derive chunk IDs and metadata. Needs
 * no store and no embedder, only the embedder's `id`.
 */
export class DocumentPlanner implements Planner {
  readonly fingerprint: string;
  readonly embedderId: string;
  readonly #o: DocumentPlannerOptions;

  constructor(options: DocumentPlannerOptions) {
    this.#o = options;
    this.embedderId = options.embedder.id;
    this.fingerprint = pipelineFingerprint({
      ...splitterSettings(options.split),
      embedder: options.embedder.id,
    });
  }

  /**
   * Plans one document version.
   * @throws SluiceError `INVALID_REQUEST` when the content does not match `contentHash`;
   * `FILE_MISSING` when the upload is gone; the loaders' codes (`INVALID_DOCUMENT`, `NO_TEXT`, …)
   */
  async plan(
    payload: IngestDocumentPayload,
    signal?: AbortSignal,
    onPage?: (page: number, pages: number) => void,
  ): Promise<DocumentPlan> {
    const bytes = await this.#content(payload, signal);
    if (sha256(bytes) !== payload.contentHash) {
      throw new SluiceError('INVALID_REQUEST', 'contentHash does not match the content', {
        details: { field: 'contentHash' },
      });
    }
    const type = payload.type ?? detectDocumentType(bytes, payload.source);
    const doc: LoadedDocument =
      type === 'pdf'
        ? await loadPdf(this.#o.pdfPool, bytes, {
            ...this.#o.pdf,
            ...(signal ? { signal } : {}),
            ...(onPage ? { onPage } : {}),
          })
        : loadText(bytes, type);
    const chunks = await splitDocument(doc, this.#o.split);
    if (chunks.length === 0) throw new SluiceError('NO_TEXT', 'the document has no text to index');
    return {
      ...(doc.pages === undefined ? {} : { pages: doc.pages }),
      chunks: planChunks(payload, chunks, this.fingerprint),
    };
  }

  async #content(payload: IngestDocumentPayload, signal: AbortSignal | undefined): Promise<Uint8Array> {
    if (payload.text !== undefined) return Buffer.from(payload.text, 'utf8');
    return this.#o.uploads.read(payload.storageKey!, signal);
  }
}
