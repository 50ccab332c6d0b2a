import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SluiceError } from '@sluice/core';
import { measure } from './measure.js';
import {
  isContentKey,
  type StageOptions,
  type StagedUpload,
  type StoredUpload,
  type UploadStore,
} from './upload-store.js';

/** Temporary copies start with a dot: never a content key, so no reader takes one for an upload. */
const TEMP_PREFIX = '.upload-';

/**
 * Uploads in a directory (`STORAGE_DIR`), local or shared by API and workers (a Compose volume, a
 * ReadWriteMany volume): each upload is written to a temporary file and renamed into place under
 * its sha256, which on one filesystem is atomic.
 */
export class DirectoryUploadStore implements UploadStore {
  readonly location: string;
  readonly #dir: string;
  #created: Promise<unknown> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
    this.location = `dir:${dir}`;
  }

  async stage(source: Readable, options: StageOptions = {}): Promise<StagedUpload> {
    await (this.#created ??= mkdir(this.#dir, { recursive: true }));
    const tempPath = join(this.#dir, `${TEMP_PREFIX}${randomUUID()}`);
    const measured = measure(options.maxBytes);
    try {
      await pipeline(
        source,
        measured.stream,
        // `flush`: the file is on disk before the job that names it is enqueued.
        createWriteStream(tempPath, { flush: true }),
        ...(options.signal ? [{ signal: options.signal }] : []),
      );
    } catch (err) {
      await unlink(tempPath).catch(() => undefined);
      throw options.signal?.aborted ? options.signal.reason : err;
    }
    const { sha256, size, head } = measured.result();
    let settled = false;
    return {
      sha256,
      size,
      head,
      commit: async () => {
        settled = true;
        // Replaces a copy of the same bytes: the upload is fresh (its mtime new) whatever was there.
        await rename(tempPath, join(this.#dir, sha256));
        return sha256;
      },
      discard: async () => {
        if (settled) return;
        settled = true;
        await unlink(tempPath).catch(() => undefined);
      },
    };
  }

  async read(key: string): Promise<Uint8Array> {
    try {
      return await readFile(join(this.#dir, checkedKey(key)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw missing(key, this.location, err);
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await unlink(join(this.#dir, checkedKey(key))).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async *list(): AsyncIterable<StoredUpload> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names.filter(isContentKey)) {
      try {
        yield { key: name, modifiedAt: (await stat(join(this.#dir, name))).mtimeMs };
      } catch {
        // Removed meanwhile.
      }
    }
  }

  async removeStaleTemporaries(maxAgeMs: number): Promise<number> {
    let names: string[];
    try {
      names = (await readdir(this.#dir)).filter((name) => name.startsWith(TEMP_PREFIX));
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const path = join(this.#dir, name);
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
}

/** A key a caller passes must be a content address: nothing else may be read or deleted. */
export function checkedKey(key: string): string {
  if (!isContentKey(key)) {
    throw new SluiceError('INVALID_REQUEST', `not a content key: ${JSON.stringify(key)}`, {
      details: { field: 'storageKey' },
    });
  }
  return key;
}

/** `FILE_MISSING` for an upload that is not (or no longer) stored. */
export function missing(key: string, location: string, cause: unknown): SluiceError {
  return new SluiceError('FILE_MISSING', `the uploaded file ${key} is not in ${location}`, { cause });
}
