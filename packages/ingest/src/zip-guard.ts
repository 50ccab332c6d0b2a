import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { ParseFailure } from './parse-protocol.js';

/** Options for {@link checkUnzippedSize}. */
export interface UnzippedSizeOptions {
  /** The most the counted entries may inflate to, together, in bytes. */
  maxUnzippedBytes: number;
  /** Which entries count: the ones the parser will inflate. */
  counts: (name: string) => boolean;
}

/**
 * Inflates the counted entries of a ZIP archive as streams, discarding the bytes, and stops as
 * soon as they add up to more than `maxUnzippedBytes`: a zip bomb (a small archive that inflates
 * to gigabytes, whatever sizes its central directory claims) is refused after at most that many
 * bytes were inflated, before any parser holds them in memory. Also checks that each entry
 * inflates to the size its central directory records, and that the archive is readable.
 *
 * @throws ParseFailure `TOO_LARGE` past the cap; `INVALID_DOCUMENT` for an archive yauzl cannot
 * read (truncated, no central directory, bad offsets, corrupt deflate data, sizes that lie);
 * `ENCRYPTED_DOCUMENT` for entries encrypted inside the ZIP.
 */
export async function checkUnzippedSize(archive: Buffer, options: UnzippedSizeOptions): Promise<void> {
  const zip = await open(archive);
  try {
    let total = 0;
    let declared = 0;
    for (let entry = await next(zip); entry; entry = await next(zip)) {
      if (!options.counts(entry.fileName)) continue;
      declared += entry.uncompressedSize;
      // An honest bomb says what it inflates to: refused without inflating a byte.
      if (declared > options.maxUnzippedBytes) throw tooLarge(options.maxUnzippedBytes, entry.fileName);
      if (entry.isEncrypted()) {
        throw new ParseFailure(
          'ENCRYPTED_DOCUMENT',
          `the DOCX is encrypted inside its ZIP archive (${entry.fileName})`,
        );
      }
      const inflated = await drain(zip, entry, options.maxUnzippedBytes - total, options.maxUnzippedBytes);
      if (inflated !== entry.uncompressedSize) {
        throw new ParseFailure(
          'INVALID_DOCUMENT',
          `the DOCX is corrupt: ${entry.fileName} inflates to ${inflated} bytes, not the ${entry.uncompressedSize} its ZIP directory records`,
        );
      }
      total += inflated;
    }
  } finally {
    zip.close();
  }
}

function tooLarge(maxUnzippedBytes: number, fileName: string): ParseFailure {
  return new ParseFailure(
    'TOO_LARGE',
    `the DOCX inflates past its cap of ${Math.round(maxUnzippedBytes / 1024 / 1024)} MiB of XML (at ${fileName}): a zip bomb, or a document too large to parse`,
  );
}

function corrupt(err: unknown): ParseFailure {
  const message = err instanceof Error ? err.message : String(err);
  return new ParseFailure('INVALID_DOCUMENT', `the DOCX is not a readable ZIP archive (${message})`, {
    cause: err,
  });
}

function open(archive: Buffer): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(
      archive,
      // Sizes are checked here, by counting, so that a lying entry is caught at the cap, not at its claim.
      { lazyEntries: true, validateEntrySizes: false, strictFileNames: false, decodeStrings: true },
      (err, zip) => (err ? reject(corrupt(err)) : resolve(zip)),
    );
  });
}

/** The next entry, or `undefined` after the last. */
function next(zip: ZipFile): Promise<Entry | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      zip.removeListener('entry', onEntry);
      zip.removeListener('end', onEnd);
      zip.removeListener('error', onError);
    };
    const onEntry = (entry: Entry): void => {
      cleanup();
      resolve(entry);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(undefined);
    };
    const onError = (err: unknown): void => {
      cleanup();
      reject(corrupt(err));
    };
    zip.once('entry', onEntry);
    zip.once('end', onEnd);
    zip.once('error', onError);
    zip.readEntry();
  });
}

/** Inflates one entry, counting and discarding its bytes; stops past `budget`. */
function drain(zip: ZipFile, entry: Entry, budget: number, cap: number): Promise<number> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err) {
        reject(corrupt(err));
        return;
      }
      let count = 0;
      stream.on('data', (chunk: Buffer) => {
        count += chunk.length;
        if (count > budget) {
          stream.destroy();
          reject(tooLarge(cap, entry.fileName));
        }
      });
      stream.on('error', (streamError) => reject(corrupt(streamError)));
      stream.on('end', () => resolve(count));
    });
  });
}
