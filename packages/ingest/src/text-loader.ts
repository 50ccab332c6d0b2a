import { SluiceError } from '@sluice/core';
import type { LoadedDocument } from './types.js';

/**
 * Front matter at the very start of a Markdown file: YAML between `---` and `---` (or `...`), or
 * TOML between `+++` and `+++`, as Hugo, Jekyll and most static-site generators write it.
 */
const FRONT_MATTER =
  /^(?:---[ \t]*\n(?:[\s\S]*?\n)?(?:---|\.\.\.)|\+\+\+[ \t]*\n(?:[\s\S]*?\n)?\+\+\+)[ \t]*(?=\n|$)/;

/**
 * Loads a UTF-8 text or Markdown file as one section. The text is decoded strictly (a leading
 * byte-order mark is dropped) and every line break becomes `\n`. For Markdown, front matter is
 * blanked out: its lines are replaced by empty lines rather than removed, so that line numbers in
 * the section (and so `lineStart`/`lineEnd` of its chunks) are those of the original file.
 *
 * @param type - `markdown` blanks front matter; `text` keeps the file as it is.
 * @throws SluiceError `INVALID_DOCUMENT` when the bytes are not valid UTF-8; `NO_TEXT` when nothing
 * but whitespace (and front matter) is left.
 */
export function loadText(bytes: Uint8Array, type: 'text' | 'markdown'): LoadedDocument {
  let decoded: string;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new SluiceError('INVALID_DOCUMENT', 'the file is not valid UTF-8 text', { cause: err });
  }
  let text = decoded.replace(/\r\n?/g, '\n');
  if (type === 'markdown') text = blankFrontMatter(text);
  if (!/\S/u.test(text)) {
    throw new SluiceError('NO_TEXT', bytes.byteLength === 0 ? 'the file is empty' : 'the file has no text');
  }
  return { type, sections: [{ text }] };
}

/** Replaces Markdown front matter with as many empty lines as it had, so line numbers hold. */
export function blankFrontMatter(markdown: string): string {
  const match = FRONT_MATTER.exec(markdown);
  if (!match) return markdown;
  return match[0].replace(/[^\n]/g, '') + markdown.slice(match[0].length);
}
