import { SluiceError } from '@sluice/core';
import { parseInPool, type ParseLoadOptions } from './parse-options.js';
import type { ParsePool } from './parse-pool.js';
import type { LoadedDocument } from './types.js';

/**
 * Extracts the text of a DOCX with mammoth, as one Markdown-style section: headings as `#`
 * lines (so that chunks carry a `headingPath`, as Markdown's do), list items as `-` or `1.`
 * lines, each table row as one line with its cells between `|`, each footnote or endnote as a
 * `[^n]:` line and each comment as a `Comment [label]:` line right after the paragraph, list or
 * table that refers to it. Images are skipped. The archive is checked before mammoth reads it:
 * its XML parts are inflated as a stream and counted against `maxUnzippedMb`. Parsing runs in one
 * of `pool`'s threads, with the same time and memory caps as a PDF's.
 *
 * @throws SluiceError `INVALID_DOCUMENT` for empty, corrupt, truncated or non-ZIP bytes;
 * `ENCRYPTED_DOCUMENT` for a password-protected DOCX (an OLE2 container holding an
 * `EncryptedPackage`); `UNSUPPORTED_TYPE` for a Word 97–2003 `.doc`; `TOO_LARGE` when the XML
 * inflates past `maxUnzippedMb`; `NO_TEXT` when there is no text; `PARSE_TIMEOUT` past
 * `timeoutMs` or the memory cap; `PREEMPTED` when `signal` aborts.
 */
export async function loadDocx(
  pool: ParsePool,
  bytes: Uint8Array,
  options: ParseLoadOptions = {},
): Promise<LoadedDocument> {
  const { sections } = await parseInPool(pool, 'docx', bytes, options);
  const text = sections.map((section) => section.text).join('\n\n');
  if (!/\S/u.test(text)) throw new SluiceError('NO_TEXT', 'the DOCX has no text');
  return { type: 'docx', sections: [{ text }] };
}
