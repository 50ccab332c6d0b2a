import { stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import {
  DOCUMENT_TYPE_NAMES,
  SUPPORTED_TYPES_DESCRIPTION,
  SluiceError,
  isTextDocumentType,
  collectionSchema,
  docIdSchema,
  metadataSchema,
  typeFromFileName,
  type DocumentType,
  type IngestDocumentPayload,
} from '@sluice/core';
import { z } from 'zod';
import { invalidRequest, validate } from './validation.js';

/** Caller metadata stored on every chunk: flat strings, numbers and booleans. */
export type DocumentMetadata = Record<string, string | number | boolean>;

/** Where a document's content comes from: exactly one of a path, a string or bytes. */
export type DocumentContent =
  | {
      /** Path of a file on this machine; streamed, never read whole into memory over HTTP. */
      file: string;
      text?: never;
      bytes?: never;
    }
  | {
      /** The document as a string (UTF-8). */
      text: string;
      file?: never;
      bytes?: never;
    }
  | {
      /** The document's bytes (a PDF, a DOCX, an HTML page in any encoding, or UTF-8 text). */
      bytes: Uint8Array;
      file?: never;
      text?: never;
    };

/** What {@link SluiceClient.ingest} takes. */
export type IngestOptions = DocumentContent & {
  /** The collection to ingest into (Chroma's naming rules: 3–512 of `a-zA-Z0-9._-`). */
  collection: string;
  /**
   * The document's ID within the collection; ingesting the same docId again replaces the
   * document (last write wins).
   * @defaultValue `fileName`, else the file's base name; required for `text` and `bytes` without `fileName`
   */
  docId?: string;
  /**
   * The name shown as `source` in query matches. Its extension decides the type (one of
   * `SUPPORTED_EXTENSIONS`: `.pdf`, `.docx`, `.html`, `.htm`, `.md`, `.markdown`, `.txt`, `.text`);
   * any other extension is rejected with `UNSUPPORTED_TYPE`.
   * @defaultValue the file's base name; for `text` and `bytes`, none (plain text, or a PDF when the bytes are one)
   */
  fileName?: string;
  /** Stored on every chunk of the document. Keys Sluice sets itself (`docId`, `page`, …) are refused. */
  metadata?: DocumentMetadata;
  /** Cancels the request. */
  signal?: AbortSignal;
};

/** An ingest request after validation, before it is sent anywhere. */
export interface ResolvedDocument {
  collection: string;
  docId: string;
  metadata: DocumentMetadata;
  /** `fileName`, or the file's base name; undefined for unnamed text and bytes. */
  name: string | undefined;
  /** The type the name says; undefined when the name has no extension or there is no name. */
  type: DocumentType | undefined;
  content:
    { kind: 'file'; path: string } | { kind: 'text'; text: string } | { kind: 'bytes'; bytes: Uint8Array };
}

// `source` in the job payload is at most 1024 characters.
const fileNameSchema = z.string().min(1).max(1024);

/**
 * The type a file name says, or undefined when it has no extension.
 * @throws SluiceError `UNSUPPORTED_TYPE` for an extension Sluice does not ingest
 */
export function typeFromName(name: string): DocumentType | undefined {
  const extension = extname(name).toLowerCase();
  if (extension === '') return undefined;
  const type = typeFromFileName(name);
  if (type !== undefined) return type;
  throw new SluiceError(
    'UNSUPPORTED_TYPE',
    `unsupported file type "${extension}" (${name}): Sluice ingests ${SUPPORTED_TYPES_DESCRIPTION}`,
    { details: { field: 'file', extension } },
  );
}

/**
 * Checks an ingest request against the same schemas the API and the worker use, and that a file
 * exists and is a regular file, before anything is sent.
 * @throws SluiceError `INVALID_REQUEST` naming the field; `UNSUPPORTED_TYPE` for a file type Sluice does not ingest
 */
export async function resolveDocument(input: IngestOptions): Promise<ResolvedDocument> {
  const collection = validate(collectionSchema, input.collection, 'collection');
  const metadata = validate(metadataSchema, input.metadata ?? {}, 'metadata');
  const given = (['file', 'text', 'bytes'] as const).filter((key) => input[key] !== undefined);
  if (given.length !== 1) {
    throw invalidRequest(
      'file',
      `exactly one of file, text and bytes is required, got ${given.length === 0 ? 'none' : given.join(' and ')}`,
    );
  }
  const fileName =
    input.fileName === undefined ? undefined : validate(fileNameSchema, input.fileName, 'fileName');

  let content: ResolvedDocument['content'];
  let name = fileName;
  if (input.file !== undefined) {
    const path = validate(z.string().min(1), input.file, 'file');
    name ??= basename(path);
    content = { kind: 'file', path };
  } else if (input.text !== undefined) {
    if (typeof input.text !== 'string' || input.text.length === 0) {
      throw invalidRequest('text', 'text must be a non-empty string');
    }
    content = { kind: 'text', text: input.text };
  } else {
    if (!(input.bytes instanceof Uint8Array)) throw invalidRequest('bytes', 'bytes must be a Uint8Array');
    if (input.bytes.byteLength === 0) throw invalidRequest('bytes', 'bytes must not be empty');
    content = { kind: 'bytes', bytes: input.bytes };
  }

  const type = name === undefined ? undefined : typeFromName(name);
  if (content.kind === 'text' && type !== undefined && !isTextDocumentType(type)) {
    throw invalidRequest(
      'fileName',
      `text cannot be a ${DOCUMENT_TYPE_NAMES[type]}: pass the ${DOCUMENT_TYPE_NAMES[type]} as file or bytes`,
    );
  }
  if (input.docId === undefined && name === undefined) {
    throw invalidRequest('docId', 'docId is required for text and bytes without a fileName');
  }
  const docId = validate(docIdSchema, input.docId ?? name, 'docId');

  if (content.kind === 'file') await checkRegularFile(content.path);
  return { collection, docId, metadata, name, type, content };
}

async function checkRegularFile(path: string): Promise<void> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw invalidRequest('file', `not a regular file: ${path}`);
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new SluiceError(
      'INVALID_REQUEST',
      code === 'ENOENT' ? `file not found: ${path}` : `cannot read ${path}: ${String(code ?? err)}`,
      { details: { field: 'file' }, cause: err },
    );
  }
}

/** The `source` shown in query matches for a document sent through the queue. */
export function sourceOf(doc: ResolvedDocument): IngestDocumentPayload['source'] {
  return doc.name ?? doc.docId.slice(0, 1024);
}
