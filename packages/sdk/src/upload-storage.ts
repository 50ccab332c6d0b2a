import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { contentHash } from '@sluice/core';

/**
 * Copies a file into `storageDir` under its content hash, the way the API stores uploads, and
 * returns the hash (which is also the `storageKey`). The file is read once: hashed while it is
 * copied, so the stored bytes are exactly the hashed ones even if the file changes meanwhile.
 * The copy lands under a temporary name and is renamed into place, so a worker never sees a
 * partial file.
 */
export async function storeFile(storageDir: string, path: string, signal?: AbortSignal): Promise<string> {
  await mkdir(storageDir, { recursive: true });
  const temporary = temporaryName(storageDir);
  const hash = createHash('sha256');
  try {
    await pipeline(
      createReadStream(path),
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          callback(null, chunk);
        },
      }),
      createWriteStream(temporary, { flags: 'wx' }),
      { signal },
    );
    const key = hash.digest('hex');
    await rename(temporary, join(storageDir, key));
    return key;
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
}

/** Writes bytes into `storageDir` under their content hash; returns the hash. */
export async function storeBytes(storageDir: string, bytes: Uint8Array | string): Promise<string> {
  await mkdir(storageDir, { recursive: true });
  const key = contentHash(bytes);
  const temporary = temporaryName(storageDir);
  try {
    await writeFile(temporary, bytes, { flag: 'wx' });
    await rename(temporary, join(storageDir, key));
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
  return key;
}

function temporaryName(storageDir: string): string {
  // A dot name that is never a content hash, so workers cannot mistake it for an upload.
  return join(storageDir, `.upload-${randomBytes(8).toString('hex')}.tmp`);
}
