/** The kinds of document Sluice ingests. */
export const DOCUMENT_TYPES = ['pdf', 'text', 'markdown'] as const;

/** One of {@link DOCUMENT_TYPES}. */
export type DocumentType = (typeof DOCUMENT_TYPES)[number];

/** The type each supported file extension stands for (lower case, with the dot). */
export const TYPE_BY_EXTENSION = {
  '.pdf': 'pdf',
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.txt': 'text',
  '.text': 'text',
} as const satisfies Record<string, DocumentType>;

/** One of {@link SUPPORTED_EXTENSIONS}. */
export type SupportedExtension = keyof typeof TYPE_BY_EXTENSION;

/** File extensions Sluice ingests (lower case, with the dot). Matching is case-insensitive. */
export const SUPPORTED_EXTENSIONS = Object.keys(TYPE_BY_EXTENSION) as readonly SupportedExtension[];

/** The media type a document of each type is sent with. */
export const MEDIA_TYPES = {
  pdf: 'application/pdf',
  markdown: 'text/markdown',
  text: 'text/plain',
} as const satisfies Record<DocumentType, string>;

/**
 * The type a file name's extension stands for, matched case-insensitively; `undefined` for a
 * name without a supported extension. Only the last path segment counts (`/` or `\`).
 */
export function typeFromFileName(fileName: string | undefined): DocumentType | undefined {
  if (fileName === undefined) return undefined;
  const base = fileName.slice(Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const extension = base.slice(dot).toLowerCase();
  return Object.hasOwn(TYPE_BY_EXTENSION, extension)
    ? TYPE_BY_EXTENSION[extension as SupportedExtension]
    : undefined;
}
