import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { contentHash, SluiceError } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3_CREDENTIALS, startS3, type TestS3 } from '../../../test/support/s3.js';
import { DirectoryUploadStore } from './directory-store.js';
import { S3UploadStore } from './s3-store.js';
import { SNIFF_BYTES, type UploadStore } from './upload-store.js';

let s3: TestS3;
let dir: string;
beforeAll(async () => {
  [s3, dir] = await Promise.all([startS3(), mkdtemp(join(tmpdir(), 'sluice-store-'))]);
});
afterAll(async () => {
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

const stores: [string, () => UploadStore][] = [
  [
    'a directory (STORAGE_DIR)',
    () => new DirectoryUploadStore(join(dir, `d-${randomBytes(4).toString('hex')}`)),
  ],
  [
    'S3 through the official AWS SDK (STORAGE_URL, against s3rver)',
    () =>
      new S3UploadStore({
        bucket: s3.bucket,
        prefix: `p-${randomBytes(4).toString('hex')}/`,
        endpoint: s3.endpoint,
        forcePathStyle: true,
        client: { credentials: S3_CREDENTIALS },
      }),
  ],
];

/** A stream of `size` random bytes in 64 KiB chunks, and those bytes. */
function randomStream(size: number): { stream: Readable; bytes: Buffer } {
  const bytes = randomBytes(size);
  const chunks: Buffer[] = [];
  for (let at = 0; at < size; at += 64 * 1024) chunks.push(bytes.subarray(at, at + 64 * 1024));
  return { stream: Readable.from(chunks), bytes };
}

describe.each(stores)('UploadStore on %s', (_name, make) => {
  it('streams an upload in, hashed and measured, readable under its sha256 only once committed', async () => {
    const store = make();
    const { stream, bytes } = randomStream(6 * 1024 * 1024 + 123);
    const staged = await store.stage(stream, { maxBytes: 10 * 1024 * 1024 });
    expect(staged.sha256).toBe(contentHash(bytes));
    expect(staged.size).toBe(bytes.length);
    // The first SNIFF_BYTES, cut back (by at most 3 bytes) to a whole UTF-8 character.
    expect(staged.head.length).toBeGreaterThan(SNIFF_BYTES - 4);
    expect(staged.head.equals(bytes.subarray(0, staged.head.length))).toBe(true);
    await expect(store.read(staged.sha256)).rejects.toMatchObject({ code: 'FILE_MISSING' });
    expect(await staged.commit()).toBe(staged.sha256);
    expect(Buffer.from(await store.read(staged.sha256)).equals(bytes)).toBe(true);
    const listed = [];
    for await (const upload of store.list()) listed.push(upload);
    expect(listed.map((u) => u.key)).toEqual([staged.sha256]);
    expect(Date.now() - listed[0]!.modifiedAt).toBeLessThan(60_000);
    // No temporary copy is left, and none is listed.
    expect(await store.removeStaleTemporaries(0)).toBe(0);
    await store.delete(staged.sha256);
    await expect(store.read(staged.sha256)).rejects.toBeInstanceOf(SluiceError);
  });

  it('refuses an upload past its limit while it streams, leaving nothing behind', async () => {
    const store = make();
    const { stream } = randomStream(3 * 1024 * 1024);
    await expect(store.stage(stream, { maxBytes: 1024 * 1024 })).rejects.toMatchObject({ code: 'TOO_LARGE' });
    const listed = [];
    for await (const upload of store.list()) listed.push(upload);
    expect(listed).toEqual([]);
    expect(await store.removeStaleTemporaries(0)).toBe(0);
  });

  it('discards a staged upload, and commits the same bytes twice as one fresh copy', async () => {
    const store = make();
    const first = await store.stage(Readable.from([Buffer.from('same bytes')]));
    await first.discard();
    await expect(store.read(first.sha256)).rejects.toMatchObject({ code: 'FILE_MISSING' });
    const a = await store.stage(Readable.from([Buffer.from('same bytes')]));
    await a.commit();
    const b = await store.stage(Readable.from([Buffer.from('same bytes')]));
    await b.commit();
    const listed = [];
    for await (const upload of store.list()) listed.push(upload);
    expect(listed.map((u) => u.key)).toEqual([a.sha256]);
    expect(Buffer.from(await store.read(a.sha256)).toString()).toBe('same bytes');
  });

  it('reads and deletes content keys only', async () => {
    const store = make();
    await expect(store.read('../etc/passwd')).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    await expect(store.delete('tmp/whatever')).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });
});
