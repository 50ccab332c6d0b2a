import { extname } from 'node:path';

/**
 * File extensions Sluice ingests, matched case-insensitively. The same list as `@sluice/ingest`'s
 * `SUPPORTED_EXTENSIONS` (the SDK does not depend on the ingestion package, which carries the
 * PDF parser and the Chroma client).
 */
export const SUPPORTED_EXTENSIONS = ['.pdf', '.md', '.markdown', '.txt', '.text'] as const;

/** The kinds of document Sluice ingests. */
export type DocumentType = 'pdf' | 'text' | 'markdown';

/** The type each supported extension stands for. */
export const TYPE_BY_EXTENSION: Readonly<Record<(typeof SUPPORTED_EXTENSIONS)[number], DocumentType>> = {
  '.pdf': 'pdf',
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.txt': 'text',
  '.text': 'text',
};

/** Whether a path has one of {@link SUPPORTED_EXTENSIONS} (what the CLI picks from a folder). */
export function hasSupportedExtension(path: string): boolean {
  return Object.hasOwn(TYPE_BY_EXTENSION, extname(path).toLowerCase());
}
