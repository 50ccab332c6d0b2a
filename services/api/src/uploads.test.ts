import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectoryUploadStore, SNIFF_BYTES } from '@sluice/storage';
import { stageFile } from './uploads.js';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop()!, { recursive: true, force: true });
});

async function storage(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-uploads-'));
  dirs.push(dir);
  return dir;
}

function chunks(bytes: Buffer, size = 1000): Readable {
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) parts.push(bytes.subarray(at, at + size));
  return Readable.from(parts);
}

describe('stageFile', () => {
  it('hashes and counts while streaming, then stores the file under its sha256 once', async () => {
    const dir = await storage();
    const bytes = Buffer.from('hello '.repeat(50_000));
    const sha = createHash('sha256').update(bytes).digest('hex');
    const staged = await stageFile(chunks(bytes), 'hello.txt', {
      store: new DirectoryUploadStore(dir),
      maxBytes: 1e6,
    });
    expect(staged).toMatchObject({ fileName: 'hello.txt', sha256: sha, size: bytes.length });
    expect(staged.head.length).toBe(SNIFF_BYTES);
    expect(await staged.commit()).toBe(sha);
    expect(await readdir(dir)).toEqual([sha]);
    expect(await readFile(join(dir, sha))).toEqual(bytes);
    // The same bytes again: one stored copy, no temporary file left.
    const again = await stageFile(chunks(bytes), 'other.txt', {
      store: new DirectoryUploadStore(dir),
      maxBytes: 1e6,
    });
    await again.commit();
    expect(await readdir(dir)).toEqual([sha]);
  });

  it('refuses a file past the limit with TOO_LARGE and leaves nothing behind', async () => {
    const dir = await storage();
    await expect(
      stageFile(chunks(Buffer.alloc(5000, 1)), 'big.bin', {
        store: new DirectoryUploadStore(dir),
        maxBytes: 4999,
      }),
    ).rejects.toMatchObject({ code: 'TOO_LARGE', details: { field: 'file' } });
    expect(await readdir(dir)).toEqual([]);
  });

  it('cuts the sniffed head back to a whole UTF-8 character', async () => {
    const dir = await storage();
    // "é" is two bytes; placing one across the cut must not make the head invalid UTF-8.
    const bytes = Buffer.concat([Buffer.alloc(SNIFF_BYTES - 1, 0x61), Buffer.from('é'.repeat(10))]);
    const staged = await stageFile(chunks(bytes, 4096), 'text.txt', {
      store: new DirectoryUploadStore(dir),
      maxBytes: 1e6,
    });
    expect(staged.head.length).toBe(SNIFF_BYTES - 1);
    await staged.discard();
    expect(await readdir(dir)).toEqual([]);
  });
});
