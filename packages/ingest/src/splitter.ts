import { createRequire } from 'node:module';
import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';
import { SluiceError, type DocumentType } from '@sluice/core';
import { MarkdownHeadings } from './markdown-headings.js';
import type { Chunk, LoadedDocument } from './types.js';

/** How documents are cut into chunks. Sizes count UTF-16 code units (JavaScript string length). */
export interface SplitOptions {
  /**
   * Longest chunk.
   * @defaultValue `1000`
   */
  chunkSize?: number;
  /**
   * How much of the end of a chunk the next one may repeat; less than `chunkSize`.
   * @defaultValue `200`
   */
  chunkOverlap?: number;
}

/** {@link SplitOptions} with every default applied. */
export type ResolvedSplitOptions = Required<SplitOptions>;

/** Resolves {@link SplitOptions} once into a fully defaulted value, checking that they make sense. */
export function resolveSplitOptions(options: SplitOptions = {}): ResolvedSplitOptions {
  const { chunkSize = 1000, chunkOverlap = 200 } = options;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
  if (!Number.isInteger(chunkOverlap) || chunkOverlap < 0 || chunkOverlap >= chunkSize) {
    throw new RangeError(`chunkOverlap must be an integer from 0 to chunkSize - 1, got ${chunkOverlap}`);
  }
  return { chunkSize, chunkOverlap };
}

/** The types split with LangChain's Markdown separators, and given heading paths. */
const SPLIT_AS_MARKDOWN: ReadonlySet<DocumentType> = new Set(['markdown', 'docx', 'html']);

const LIBRARY = '@langchain/textsplitters';
const libraryVersion = (createRequire(import.meta.url)(`${LIBRARY}/package.json`) as { version: string })
  .version;

/**
 * The settings that decide which chunks a document yields, as a flat record for the pipeline
 * fingerprint: any change here changes chunk texts, so it must change chunk IDs. Includes the
 * splitter library's version, since its separators and merge rules are part of the result.
 */
export function splitterSettings(options: SplitOptions = {}): Record<string, string | number> {
  const { chunkSize, chunkOverlap } = resolveSplitOptions(options);
  return {
    splitter: 'RecursiveCharacterTextSplitter',
    markdownSeparators: 'fromLanguage(markdown)',
    pdf: 'per-page',
    length: 'utf16-code-units',
    chunkSize,
    chunkOverlap,
    library: `${LIBRARY}@${libraryVersion}`,
  };
}

/**
 * Cuts a loaded document into chunks with LangChain's `RecursiveCharacterTextSplitter` (its
 * Markdown separators for Markdown). Guarantees:
 *
 * - each chunk's text is a whitespace-trimmed piece of one section, at most `chunkSize` long, and
 *   never only whitespace;
 * - `index` counts from 0 across the whole document, in document order;
 * - PDF sections are split one page at a time, so a chunk never spans pages and carries `page`;
 * - text and Markdown chunks carry `lineStart`/`lineEnd`, the 1-based lines of the section on
 *   which the chunk's first and last characters stand;
 * - Markdown chunks carry `headingPath`, the ATX headings in effect at `lineStart` joined with
 *   `' > '` (absent before the first heading);
 * - DOCX and HTML, which their loaders turn into Markdown-style text, are split by the same
 *   Markdown rules and carry `headingPath` the same way, but no lines (the text is the loader's,
 *   not the file's);
 * - the same document and options always give the same chunks.
 */
export async function splitDocument(doc: LoadedDocument, options: SplitOptions = {}): Promise<Chunk[]> {
  const settings = resolveSplitOptions(options);
  const markdown = SPLIT_AS_MARKDOWN.has(doc.type);
  const splitter = markdown
    ? RecursiveCharacterTextSplitter.fromLanguage('markdown', settings)
    : new RecursiveCharacterTextSplitter(settings);
  const chunks: Chunk[] = [];
  for (const section of doc.sections) {
    const pieces = await splitter.splitText(section.text);
    const lines = doc.type === 'pdf' ? undefined : lineStarts(section.text);
    const headings = markdown ? new MarkdownHeadings(section.text) : undefined;
    const keepLines = doc.type === 'markdown' || doc.type === 'text';
    let previous = { start: 0, end: 0 };
    for (const text of pieces) {
      if (!/\S/u.test(text)) continue;
      const chunk: Chunk = { text, index: chunks.length };
      if (section.page !== undefined) chunk.page = section.page;
      if (lines) {
        const start = locate(section.text, text, previous, settings.chunkOverlap);
        previous = { start, end: start + text.length };
        const lineStart = lineAt(lines, start);
        if (keepLines) {
          chunk.lineStart = lineStart;
          chunk.lineEnd = lineAt(lines, start + text.length - 1);
        }
        const headingPath = headings?.at(lineStart);
        if (headingPath) chunk.headingPath = headingPath;
      }
      chunks.push(chunk);
    }
  }
  return chunks;
}

/**
 * Where a chunk starts in its section. The splitter emits chunks in order, and a chunk repeats at
 * most `chunkOverlap` characters of the one before, so the search starts there: a text repeated in
 * the section maps to the occurrence the splitter took, not to the first one. (Only text that
 * repeats with a period shorter than the overlap can map to an earlier, identical, occurrence.)
 */
function locate(
  section: string,
  text: string,
  previous: { start: number; end: number },
  overlap: number,
): number {
  for (const from of [Math.max(previous.start, previous.end - overlap), previous.start]) {
    const at = section.indexOf(text, from);
    if (at >= 0) return at;
  }
  // Chunks are slices of the section; if this ever fails the splitter changed its contract.
  throw new SluiceError('INTERNAL', 'a chunk was not found in the text it was split from');
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) starts.push(at + 1);
  return starts;
}

/** The 1-based line holding the character at `offset`. */
function lineAt(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] ?? Infinity) <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}
