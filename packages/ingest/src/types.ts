import type { DocumentType } from '@sluice/core';

/**
 * A piece of a loaded document that the splitter works on: one PDF page, or a whole text,
 * Markdown, DOCX or HTML document (DOCX and HTML as Markdown-style text).
 */
export interface DocumentSection {
  /** The section's text. */
  text: string;
  /** 1-based page number (PDF only). */
  page?: number;
}

/** A document after loading, before splitting. */
export interface LoadedDocument {
  type: DocumentType;
  /** Page count (PDF only). */
  pages?: number;
  sections: DocumentSection[];
  /** The page's title (HTML, when it has one); also the first heading of its text. */
  title?: string;
}

/** One chunk, ready for its ID and embedding. */
export interface Chunk {
  /** The text that is embedded and stored. */
  text: string;
  /** 0-based position in the document. */
  index: number;
  /** 1-based page (PDF). */
  page?: number;
  /**
   * 1-based first and last line of the chunk in its section (text and Markdown; not DOCX and
   * HTML, whose text is made by the loader and has no lines of its own).
   */
  lineStart?: number;
  lineEnd?: number;
  /** Heading path (Markdown, DOCX, HTML), e.g. `Concepts > Pods > Pod lifecycle`. */
  headingPath?: string;
}

/** Turns texts into vectors. Implementations must be deterministic for a given `id`. */
export interface Embedder {
  /** Names the model and its settings; part of the pipeline fingerprint. */
  readonly id: string;
  /** Length of every vector. */
  readonly dimensions: number;
  /** One vector per text, in order. Stops early when `signal` aborts. */
  embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]>;
}
