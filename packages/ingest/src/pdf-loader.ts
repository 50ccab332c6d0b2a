import { SluiceError } from '@sluice/core';
import { parseInPool, type ParseLoadOptions } from './parse-options.js';
import type { ParsePool } from './parse-pool.js';
import type { LoadedDocument } from './types.js';

/** Limits for {@link loadPdf}: those of every parse. */
export type PdfLoadOptions = ParseLoadOptions;

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
  pool: ParsePool,
  bytes: Uint8Array,
  options: PdfLoadOptions = {},
): Promise<LoadedDocument> {
  const { pages = 0, sections } = await parseInPool(pool, 'pdf', bytes, options);
  if (!sections.some((section) => /\S/u.test(section.text))) {
    throw new SluiceError(
      'NO_TEXT',
      `the PDF has no extractable text on any of its ${pages} pages (image-only?)`,
      { details: { pages } },
    );
  }
  return { type: 'pdf', pages, sections: sections.map(({ text, page }) => ({ text, page })) };
}
