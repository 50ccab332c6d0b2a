import {
  SluiceError,
  contentHash as sha256,
  pipelineFingerprint,
  type IngestDocumentPayload,
} from '@sluice/core';
import { planChunks, type DocumentPlan } from './chunk-plan.js';
import { detectDocumentType } from './document-type.js';
import { loadDocx } from './docx-loader.js';
import { loadHtml } from './html-loader.js';
import type { ParseLoadOptions } from './parse-options.js';
import type { ParsePool } from './parse-pool.js';
import { loadPdf } from './pdf-loader.js';
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

/** The limits of every parse (PDF, DOCX, HTML). */
type ParseLimits = Pick<ParseLoadOptions, 'timeoutMs' | 'maxMemoryMb' | 'maxUnzippedMb'>;

/** Options for {@link DocumentPlanner}. */
export interface DocumentPlannerOptions {
  /** The embedder the chunks are for: its `id` is part of the pipeline fingerprint. */
  embedder: Pick<Embedder, 'id'>;
  /** The threads documents (PDF, DOCX, HTML) are parsed in; the planner's owner creates and closes it. */
  parsePool: ParsePool;
  /** Where uploaded files are read from (a directory or object storage: `@sluice/storage`). */
  uploads: UploadReader;
  /** Splitter settings; part of the pipeline fingerprint. */
  split?: SplitOptions;
  /** Parse limits (time, memory, unzipped size) for every format. */
  parse?: ParseLimits;
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
  readonly #pool: ParsePool;
  readonly #limits: ParseLimits;

  constructor(options: DocumentPlannerOptions) {
    this.#o = options;
    this.#pool = options.parsePool;
    this.#limits = { ...options.parse };
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
    const parse: ParseLoadOptions = { ...this.#limits, ...(signal ? { signal } : {}) };
    let doc: LoadedDocument;
    switch (type) {
      case 'pdf':
        doc = await loadPdf(this.#pool, bytes, { ...parse, ...(onPage ? { onPage } : {}) });
        break;
      case 'docx':
        doc = await loadDocx(this.#pool, bytes, parse);
        break;
      case 'html':
        doc = await loadHtml(this.#pool, bytes, parse);
        break;
      case 'markdown':
      case 'text':
        doc = loadText(bytes, type);
        break;
    }
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
