import { SluiceError } from '@sluice/core';
import type { PdfParsePool } from './pdf-parse-pool.js';
import type { LoadedDocument } from './types.js';

/** Limits for {@link loadPdf}. */
export interface PdfLoadOptions {
  /**
   * A parse that runs longer is stopped and fails with `PARSE_TIMEOUT` (the worker passes
   * `PARSE_TIMEOUT_MS`).
   * @defaultValue `120_000`
   */
  timeoutMs?: number;
  /**
   * Memory cap of the parse in MiB: the parse thread's V8 heap limit, and the most the process's
   * resident memory may grow while the parse runs. Past it the parse fails with `PARSE_TIMEOUT`.
   * @defaultValue `1024`
   */
  maxMemoryMb?: number;
  /** Aborting stops the parse at once; the promise rejects with `PREEMPTED` (or the signal's reason, when it is a `SluiceError`). */
  signal?: AbortSignal;
  /** Called after each page is extracted, with the page number and the page count, for job progress. */
  onPage?: (page: number, pages: number) => void;
}

/** {@link PdfLoadOptions} with every default applied. */
export type ResolvedPdfLoadOptions = Required<Pick<PdfLoadOptions, 'timeoutMs' | 'maxMemoryMb'>> &
  Pick<PdfLoadOptions, 'signal' | 'onPage'>;

/** Resolves {@link PdfLoadOptions} once into a fully defaulted value. */
export function resolvePdfLoadOptions(options: PdfLoadOptions = {}): ResolvedPdfLoadOptions {
  const resolved = {
    ...options,
    timeoutMs: options.timeoutMs ?? 120_000,
    maxMemoryMb: options.maxMemoryMb ?? 1024,
  };
  if (!(resolved.timeoutMs > 0))
    throw new RangeError(`timeoutMs must be positive, got ${resolved.timeoutMs}`);
  if (!(resolved.maxMemoryMb >= 16))
    throw new RangeError(`maxMemoryMb must be at least 16, got ${resolved.maxMemoryMb}`);
  return resolved;
}

/**
 * Extracts the text of a PDF with pdf-parse, one section per page (`{ text, page }`, every page,
 * in order) and `pages` set to the page count. The parse runs in one of `pool`'s threads with a
 * memory cap; this thread is never blocked, and the promise settles within `timeoutMs` whatever the
 * bytes contain. The caller's bytes are copied, never detached.
 *
 * @throws SluiceError `INVALID_DOCUMENT` for empty, corrupt, truncated or non-PDF bytes (the
 * message names pdf.js's error); `ENCRYPTED_DOCUMENT` when a password is needed to open it (a PDF
 * with only an owner password opens and loads); `NO_TEXT` when no page has non-whitespace text;
 * `PARSE_TIMEOUT` past `timeoutMs` or the memory cap; `PREEMPTED` when `signal` aborts.
 */
export async function loadPdf(
  pool: PdfParsePool,
  bytes: Uint8Array,
  options: PdfLoadOptions = {},
): Promise<LoadedDocument> {
  const resolved = resolvePdfLoadOptions(options);
  if (bytes.byteLength === 0) {
    throw new SluiceError('INVALID_DOCUMENT', 'the PDF is empty (zero bytes)');
  }
  // A copy of exactly these bytes is transferred. Not `bytes.slice().buffer`: on a Node Buffer
  // slice() is a view, and `.buffer` may be the shared allocation pool holding other data.
  const data = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(data).set(bytes);
  const { pages, texts } = await pool.parse(data, resolved);
  const sections = texts.map(({ page, text }) => ({ text, page }));
  if (!sections.some((section) => /\S/u.test(section.text))) {
    throw new SluiceError(
      'NO_TEXT',
      `the PDF has no extractable text on any of its ${pages} pages (image-only?)`,
      {
        details: { pages },
      },
    );
  }
  return { type: 'pdf', pages, sections };
}
