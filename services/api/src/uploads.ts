import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SluiceError } from '@sluice/core';
import type {} from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';

/** How many leading bytes of an upload are kept for type detection. */
export const SNIFF_BYTES = 64 * 1024;

/** Largest `docId` or `metadata` form field, in bytes. */
export const MAX_FIELD_BYTES = 64 * 1024;

/**
 * Bytes a multipart request may carry beyond the file itself (boundaries, part headers, the
 * `docId` and `metadata` fields). A request whose `Content-Length` exceeds
 * `maxBytes + MULTIPART_OVERHEAD_BYTES` is refused before a byte of it is read.
 */
export const MULTIPART_OVERHEAD_BYTES = 2 * MAX_FIELD_BYTES + 16 * 1024;

const TEMP_PREFIX = '.upload-';

/** Options for {@link receiveUpload}. */
export interface UploadOptions {
  /** Where files are stored, under their sha256 (`STORAGE_DIR`). */
  storageDir: string;
  /** Largest file accepted (`MAX_UPLOAD_BYTES`). */
  maxBytes: number;
}

/**
 * An uploaded file, written to a temporary file in the storage directory, not yet visible under
 * its content address. Exactly one of {@link StagedFile.commit} and {@link StagedFile.discard}
 * must follow.
 */
export interface StagedFile {
  /** The client's file name without any directory part; empty when the part had none. */
  readonly fileName: string;
  /** sha256 of the bytes, lowercase hex: the document's `contentHash` and its storage key. */
  readonly sha256: string;
  /** Size in bytes. */
  readonly size: number;
  /**
   * The first {@link SNIFF_BYTES} bytes, cut back to a whole UTF-8 character when the file is
   * longer, so that text detection does not trip over a character split at the cut.
   */
  readonly head: Buffer;
  /** Moves the file to `storageDir/<sha256>` (or drops it when that exists); returns the key. */
  commit(): Promise<string>;
  /** Deletes the temporary file. */
  discard(): Promise<void>;
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
 * {@link SNIFF_BYTES}.
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
 * Streams one file to a temporary file in `storageDir`, computing its sha256 and size on the
 * way, and enforcing `maxBytes` while streaming.
 */
export async function stageFile(
  source: Readable,
  fileName: string,
  options: UploadOptions,
): Promise<StagedFile> {
  const tempPath = join(options.storageDir, `${TEMP_PREFIX}${randomUUID()}`);
  const hash = createHash('sha256');
  const headChunks: Buffer[] = [];
  let headBytes = 0;
  let size = 0;
  const abort = new AbortController();
  const tooLarge = () =>
    new SluiceError('TOO_LARGE', `the file is larger than the limit of ${options.maxBytes} bytes`, {
      details: { field: 'file', limit: options.maxBytes },
    });
  // busboy stops feeding the part at the limit but would wait for the part's end (the rest of
  // the body) before ending the stream; aborting here answers at once.
  source.once('limit', () => abort.abort(tooLarge()));
  try {
    await pipeline(
      source,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          size += chunk.length;
          if (size > options.maxBytes) throw tooLarge();
          hash.update(chunk);
          if (headBytes < SNIFF_BYTES) {
            headChunks.push(chunk.subarray(0, SNIFF_BYTES - headBytes));
            headBytes += Math.min(chunk.length, SNIFF_BYTES - headBytes);
          }
          yield chunk;
        }
      },
      // `flush`: the file is on disk before the job that names it is enqueued.
      createWriteStream(tempPath, { flush: true }),
      { signal: abort.signal },
    );
    if ((source as Readable & { truncated?: boolean }).truncated) throw tooLarge();
  } catch (err) {
    await unlink(tempPath).catch(() => undefined);
    throw abort.signal.aborted ? (abort.signal.reason as SluiceError) : err;
  }
  const sha256 = hash.digest('hex');
  const head = Buffer.concat(headChunks);
  let settled = false;
  return {
    fileName,
    sha256,
    size,
    head: size > head.length ? wholeUtf8Prefix(head) : head,
    async commit() {
      settled = true;
      const target = join(options.storageDir, sha256);
      if (await exists(target)) {
        // Same name, same bytes: the stored copy is as good as this one.
        await unlink(tempPath).catch(() => undefined);
      } else {
        await rename(tempPath, target);
      }
      return sha256;
    },
    async discard() {
      if (settled) return;
      settled = true;
      await unlink(tempPath).catch(() => undefined);
    },
  };
}

/**
 * Removes temporary upload files older than `maxAgeMs` (left behind by a process that died
 * mid-upload). Several API processes may share the directory, so younger ones are left alone.
 * @returns how many were removed
 */
export async function removeStaleUploads(storageDir: string, maxAgeMs: number): Promise<number> {
  const names = (await readdir(storageDir)).filter((name) => name.startsWith(TEMP_PREFIX));
  let removed = 0;
  for (const name of names) {
    const path = join(storageDir, name);
    try {
      if (Date.now() - (await stat(path)).mtimeMs > maxAgeMs) {
        await unlink(path);
        removed += 1;
      }
    } catch {
      // Another process finished or removed it meanwhile.
    }
  }
  return removed;
}

/** Creates the storage directory if needed. */
export async function ensureStorageDir(storageDir: string): Promise<void> {
  await mkdir(storageDir, { recursive: true });
}

/** Cuts a prefix of a longer file back to the end of its last whole UTF-8 character. */
function wholeUtf8Prefix(bytes: Buffer): Buffer {
  // Look back at most 3 bytes for the lead byte of a multi-byte character cut short.
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needed > back ? bytes.subarray(0, bytes.length - back) : bytes;
  }
  return bytes;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
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
