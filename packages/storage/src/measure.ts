import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { SluiceError } from '@sluice/core';
import { SNIFF_BYTES } from './upload-store.js';

/** What {@link measure} learned once the stream ended. */
export interface Measured {
  sha256: string;
  size: number;
  head: Buffer;
}

/**
 * A pass-through that hashes, counts and keeps the head of what flows through it, and fails with
 * `TOO_LARGE` as soon as more than `maxBytes` went by. `result()` is what it saw, once it ended.
 */
export function measure(maxBytes: number | undefined): { stream: Transform; result: () => Measured } {
  const hash = createHash('sha256');
  const headChunks: Buffer[] = [];
  let headBytes = 0;
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (maxBytes !== undefined && size > maxBytes) {
        callback(tooLarge(maxBytes));
        return;
      }
      hash.update(chunk);
      if (headBytes < SNIFF_BYTES) {
        headChunks.push(chunk.subarray(0, SNIFF_BYTES - headBytes));
        headBytes += Math.min(chunk.length, SNIFF_BYTES - headBytes);
      }
      callback(null, chunk);
    },
  });
  return {
    stream,
    result: () => {
      const head = Buffer.concat(headChunks);
      return { sha256: hash.digest('hex'), size, head: size > head.length ? wholeUtf8Prefix(head) : head };
    },
  };
}

/** `TOO_LARGE` for an upload past its limit. */
export function tooLarge(maxBytes: number): SluiceError {
  return new SluiceError('TOO_LARGE', `the file is larger than the limit of ${maxBytes} bytes`, {
    details: { field: 'file', limit: maxBytes },
  });
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
