import type { ErrorCode } from '@sluice/core';

/** The formats a parse thread reads. */
export const PARSE_KINDS = ['pdf', 'docx', 'html'] as const;

/** One of {@link PARSE_KINDS}. */
export type ParseKind = (typeof PARSE_KINDS)[number];

/** Limits a parse thread enforces itself, beyond the pool's time and memory caps. */
export interface ParseThreadLimits {
  /** DOCX: the most the XML parts of the archive may inflate to, in bytes; past it, `TOO_LARGE`. */
  maxUnzippedBytes: number;
}

/** What the main thread sends a parse thread: one document, its bytes transferred. */
export interface ParseRequest {
  /** Correlates the answers with this request. */
  id: number;
  /** Which parser reads the bytes. */
  kind: ParseKind;
  /** The document's bytes; transferred, so the sender no longer owns them. */
  data: ArrayBuffer;
  limits: ParseThreadLimits;
}

/** One piece of a parsed document: a PDF page, or the whole text of a DOCX or HTML page. */
export interface ParsedSection {
  text: string;
  /** 1-based page number (PDF only). */
  page?: number;
}

/** What a successful parse returns. */
export interface ParseOutput {
  /** Page count (PDF only). */
  pages?: number;
  /**
   * PDF: one section per page, in page order. DOCX and HTML: one section, the document as
   * Markdown-style text (`#` headings, list items, one line per table row).
   */
  sections: ParsedSection[];
  /** The page's title (HTML only, when it has one). */
  title?: string;
}

/** The codes a parse thread may report; everything else is decided on the main thread. */
export type ParseFailureCode = Extract<
  ErrorCode,
  'INVALID_DOCUMENT' | 'ENCRYPTED_DOCUMENT' | 'TOO_LARGE' | 'UNSUPPORTED_TYPE'
>;

/**
 * What a parse thread posts back. Only plain objects cross the thread boundary; errors travel as
 * `{ code, message }` and become a `SluiceError` on the main thread.
 */
export type ParseMessage =
  /** The thread has started and takes requests. */
  | { type: 'ready' }
  /** The parser's modules are loaded and the parse itself begins: the memory guard measures from here. */
  | { type: 'loaded'; id: number }
  /** A PDF page was extracted; doubles as a sign of life while a long document is parsed. */
  | { type: 'page'; id: number; page: number; pages: number }
  /** The document was parsed. */
  | ({ type: 'done'; id: number } & ParseOutput)
  /** The parser refused the document. */
  | { type: 'failed'; id: number; code: ParseFailureCode; message: string };

/** A failure a parser raises on purpose inside the thread, with its code. */
export class ParseFailure extends Error {
  override readonly name = 'ParseFailure';
  readonly code: ParseFailureCode;

  constructor(code: ParseFailureCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
