import { SluiceError } from '@sluice/core';
import { parseInPool, type ParseLoadOptions } from './parse-options.js';
import type { ParsePool } from './parse-pool.js';
import type { LoadedDocument } from './types.js';

/**
 * Extracts the main content of an HTML page, as Firefox's Reader View does (Mozilla's
 * Readability on a linkedom DOM), with its title: one Markdown-style section that starts with the
 * title as a `#` heading, then the article's headings, paragraphs, list items and table rows (one
 * line each, cells between `|`), code blocks fenced. Only text is kept: never a tag, a script, a
 * style sheet, navigation, or anything hidden. A page that is not an article (Readability's own
 * test, `isProbablyReaderable`, says no) yields all its visible text instead. The bytes are
 * decoded as a browser would: a byte-order mark, else the charset the page declares (`<meta
 * charset>`, `http-equiv`, an XML declaration), else UTF-8 when they are valid UTF-8, else
 * windows-1252. Parsing runs in one of `pool`'s threads, with the same caps as a PDF's.
 *
 * @throws SluiceError `NO_TEXT` when the page has no visible text; `PARSE_TIMEOUT` past
 * `timeoutMs` or the memory cap; `PREEMPTED` when `signal` aborts.
 */
export async function loadHtml(
  pool: ParsePool,
  bytes: Uint8Array,
  options: ParseLoadOptions = {},
): Promise<LoadedDocument> {
  if (bytes.byteLength === 0) throw new SluiceError('NO_TEXT', 'the page is empty (zero bytes)');
  const { sections, title } = await parseInPool(pool, 'html', bytes, options);
  const text = sections.map((section) => section.text).join('\n\n');
  if (!/\S/u.test(text)) throw new SluiceError('NO_TEXT', 'the page has no visible text');
  return { type: 'html', sections: [{ text }], ...(title ? { title } : {}) };
}
