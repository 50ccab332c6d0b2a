/** The kinds of document Sluice ingests. */
export const DOCUMENT_TYPES = ['pdf', 'docx', 'html', 'markdown', 'text'] as const;

/** One of {@link DOCUMENT_TYPES}. */
export type DocumentType = (typeof DOCUMENT_TYPES)[number];

/**
 * The types whose content is text and may travel as a string (the API's JSON `text`, the SDK's
 * `text`): everything but the binary formats, PDF and DOCX.
 */
export const TEXT_DOCUMENT_TYPES = ['html', 'markdown', 'text'] as const satisfies readonly DocumentType[];

/** One of {@link TEXT_DOCUMENT_TYPES}. */
export type TextDocumentType = (typeof TEXT_DOCUMENT_TYPES)[number];

/** Tells whether a type's content is text (see {@link TEXT_DOCUMENT_TYPES}). */
export function isTextDocumentType(type: DocumentType | undefined): type is TextDocumentType {
  return (TEXT_DOCUMENT_TYPES as readonly string[]).includes(type ?? '');
}

/** The type each supported file extension stands for (lower case, with the dot). */
export const TYPE_BY_EXTENSION = {
  '.pdf': 'pdf',
  '.docx': 'docx',
  '.html': 'html',
  '.htm': 'html',
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
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  html: 'text/html',
  markdown: 'text/markdown',
  text: 'text/plain',
} as const satisfies Record<DocumentType, string>;

/** What each type is called in messages and docs. */
export const DOCUMENT_TYPE_NAMES = {
  pdf: 'PDF',
  docx: 'DOCX',
  html: 'HTML',
  markdown: 'Markdown',
  text: 'UTF-8 text',
} as const satisfies Record<DocumentType, string>;

/**
 * The supported types with their extensions, for messages: `PDF (.pdf), DOCX (.docx), HTML
 * (.html .htm), Markdown (.md .markdown), UTF-8 text (.txt .text)`. Derived from
 * {@link DOCUMENT_TYPES} and {@link TYPE_BY_EXTENSION}, never written out by hand.
 */
export const SUPPORTED_TYPES_DESCRIPTION: string = DOCUMENT_TYPES.map((type) => {
  const extensions = SUPPORTED_EXTENSIONS.filter((extension) => TYPE_BY_EXTENSION[extension] === type);
  return `${DOCUMENT_TYPE_NAMES[type]} (${extensions.join(' ')})`;
}).join(', ');

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
