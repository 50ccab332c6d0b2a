import type { Readable } from 'node:stream';
import { SluiceError } from '@sluice/core';
import type { StagedUpload, UploadStore } from '@sluice/storage';
import type {} from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';

/** Largest `docId` or `metadata` form field, in bytes. */
export const MAX_FIELD_BYTES = 64 * 1024;

/**
 * Bytes a multipart request may carry beyond the file itself (boundaries, part headers, the
 * `docId` and `metadata` fields). A request whose `Content-Length` exceeds
 * `maxBytes + MULTIPART_OVERHEAD_BYTES` is refused before a byte of it is read.
 */
export const MULTIPART_OVERHEAD_BYTES = 2 * MAX_FIELD_BYTES + 16 * 1024;

/** Options for {@link receiveUpload}. */
export interface UploadOptions {
  /** Where files are stored, under their sha256 (`STORAGE_DIR` or `STORAGE_URL`). */
  store: UploadStore;
  /** Largest file accepted (`MAX_UPLOAD_BYTES`). */
  maxBytes: number;
}

/**
 * An uploaded file, staged in the store, not yet visible under its content address. Exactly one
 * of `commit` and `discard` must follow.
 */
export interface StagedFile extends StagedUpload {
  /** The client's file name without any directory part; empty when the part had none. */
  readonly fileName: string;
}

/** A parsed multipart upload: the file and the text fields that came with it. */
export interface ReceivedUpload {
  file: StagedFile;
  /** The `docId` field, when given. */
  docId: string | undefined;
  /** The `metadata` field (JSON text), when given. */
  metadata: string | undefined;
}

const FIELDS = new Set(['docId', 'metadata']);

/**
 * Reads a `multipart/form-data` request: one part `file` (streamed to a temporary file in the
 * storage directory while its sha256 and size are computed) and the optional fields `docId` and
 * `metadata`, in any order. Nothing is buffered beyond one chunk and the first
 * `SNIFF_BYTES` (64 KiB).
 *
 * @throws SluiceError `TOO_LARGE` as soon as the file passes `maxBytes` (the rest of the body
 * is not read); `INVALID_REQUEST` naming the field for a missing file, a second file, an
 * unknown field, an oversized field or a malformed body. The temporary file is removed on every
 * failure.
 */
export async function receiveUpload(
  request: FastifyRequest,
  options: UploadOptions,
): Promise<ReceivedUpload> {
  let file: StagedFile | undefined;
  const fields: Partial<Record<'docId' | 'metadata', string>> = {};
  try {
    const parts = request.parts({
      limits: {
        fileSize: options.maxBytes,
        // One more than allowed, so that an extra one reaches the loop and gets a clear answer.
        files: 2,
        fields: FIELDS.size + 1,
        fieldSize: MAX_FIELD_BYTES,
        parts: FIELDS.size + 3,
      },
    });
    for await (const part of parts) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file') {
          part.file.resume();
          throw invalid(
            part.fieldname,
            `unexpected file field "${part.fieldname}"; send the document as "file"`,
          );
        }
        if (file) {
          part.file.resume();
          throw invalid('file', 'send one file per request');
        }
        file = await stageFile(part.file, part.filename, options);
        continue;
      }
      if (!FIELDS.has(part.fieldname)) {
        throw invalid(part.fieldname, `unknown field "${part.fieldname}"; expected file, docId and metadata`);
      }
      if (part.valueTruncated) {
        throw invalid(part.fieldname, `${part.fieldname} must be at most ${MAX_FIELD_BYTES} bytes`);
      }
      // A part sent as application/json arrives parsed; the fields are checked as text.
      const { value } = part;
      fields[part.fieldname as 'docId' | 'metadata'] =
        typeof value === 'string' ? value : JSON.stringify(value);
    }
    if (!file) throw invalid('file', 'missing file: send the document as the multipart field "file"');
    return { file, docId: fields.docId, metadata: fields.metadata };
  } catch (err) {
    await file?.discard();
    throw asUploadError(err);
  }
}

/**
 * Streams one file part into the store, computing its sha256 and size on the way, and enforcing
 * `maxBytes` while streaming (busboy's own limit stops the part; this answers at once).
 */
export async function stageFile(
  source: Readable,
  fileName: string,
  options: UploadOptions,
): Promise<StagedFile> {
  const abort = new AbortController();
  const tooLarge = () =>
    new SluiceError('TOO_LARGE', `the file is larger than the limit of ${options.maxBytes} bytes`, {
      details: { field: 'file', limit: options.maxBytes },
    });
  // busboy stops feeding the part at the limit but would wait for the part's end (the rest of
  // the body) before ending the stream; aborting here answers at once.
  source.once('limit', () => abort.abort(tooLarge()));
  const staged = await options.store.stage(source, { maxBytes: options.maxBytes, signal: abort.signal });
  if ((source as Readable & { truncated?: boolean }).truncated) {
    await staged.discard();
    throw tooLarge();
  }
  return Object.assign(staged, { fileName });
}

function invalid(field: string, message: string): SluiceError {
  return new SluiceError('INVALID_REQUEST', message, { details: { field } });
}

/** busboy's own parse errors carry no status; they mean a malformed body. */
function asUploadError(err: unknown): unknown {
  if (err instanceof SluiceError) return err;
  const { statusCode, message } = err as { statusCode?: unknown; message?: unknown };
  if (typeof statusCode === 'number') return err;
  if (
    typeof message === 'string' &&
    /multipart|boundary|malformed|unexpected end|part terminated/i.test(message)
  ) {
    return new SluiceError('INVALID_REQUEST', `malformed multipart body: ${message}`, { cause: err });
  }
  return err;
}
