import { inspect } from 'node:util';
import type { ErrorCode } from '@sluice/core';

/** What the main thread sends a PDF parse thread: one document, its bytes transferred. */
export interface PdfParseRequest {
  /** Correlates the answers with this request. */
  id: number;
  /** The PDF's bytes; transferred, so the sender no longer owns them. */
  data: ArrayBuffer;
}

/** The text of one page, as the thread extracted it. */
export interface PdfPageText {
  /** 1-based page number. */
  page: number;
  text: string;
}

/** The codes a parse thread may report; everything else is decided on the main thread. */
export type PdfParseFailureCode = Extract<ErrorCode, 'INVALID_DOCUMENT' | 'ENCRYPTED_DOCUMENT'>;

/**
 * What a PDF parse thread posts back. Only plain objects cross the thread boundary; errors
 * travel as `{ code, message }` and become a `SluiceError` on the main thread.
 */
export type PdfParseMessage =
  /** The thread has loaded pdf-parse and takes requests. */
  | { type: 'ready' }
  /** A page was extracted; doubles as a sign of life while a long document is parsed. */
  | { type: 'page'; id: number; page: number; pages: number }
  /** The document was parsed; `pages` is its page count, `texts` one entry per page, in order. */
  | { type: 'done'; id: number; pages: number; texts: PdfPageText[] }
  /** pdf.js refused the document. */
  | { type: 'failed'; id: number; code: PdfParseFailureCode; message: string };

/**
 * Maps anything pdf-parse or pdf.js throws to a Sluice code. pdf.js errors are classes of its
 * own bundle (and are rebuilt when they cross pdf.js's internal worker boundary), so they are
 * told apart by `name`, never by `instanceof`. A password request is `ENCRYPTED_DOCUMENT`; every
 * other failure of the parse (`InvalidPDFException`, `UnknownErrorException`, `FormatError`, a
 * stack overflow on deeply nested objects, …) is `INVALID_DOCUMENT`. The message keeps the
 * original name and message.
 */
export function classifyPdfError(err: unknown): { code: PdfParseFailureCode; message: string } {
  const { name, message } = describe(err);
  if (name === 'PasswordException') {
    return { code: 'ENCRYPTED_DOCUMENT', message: `the PDF needs a password to open (${name}: ${message})` };
  }
  return { code: 'INVALID_DOCUMENT', message: `the PDF could not be read (${name}: ${message})` };
}

function describe(err: unknown): { name: string; message: string } {
  if (typeof err === 'object' && err !== null) {
    const { name, message } = err as { name?: unknown; message?: unknown };
    return {
      name: typeof name === 'string' && name !== '' ? name : 'Error',
      message: typeof message === 'string' ? message : inspect(err, { depth: 1, breakLength: Infinity }),
    };
  }
  return { name: typeof err, message: String(err) };
}
