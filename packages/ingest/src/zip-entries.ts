/** The entry names a sniffer could read from the start of a ZIP archive, or from all of it. */
export interface ZipEntryNames {
  /** Entry names in archive order (central directory order when `complete`). */
  names: string[];
  /**
   * Whether the names come from the central directory, i.e. are all of them. Otherwise they were
   * read from the local headers at the front of the bytes (an upload's first bytes, or a
   * truncated file) and more entries may follow.
   */
  complete: boolean;
}

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_END = 0x06064b50;
/** The end record is 22 bytes, followed by a comment of at most 65,535 bytes. */
const END_SEARCH_WINDOW = 22 + 0xffff;
/** At most this many names are read: enough to recognise any package, bounded on a hostile file. */
const MAX_NAMES = 10_000;

/**
 * Lists the entry names of a ZIP archive without inflating anything: from the central directory
 * when `bytes` hold it, else from the local headers at the front. A sniffer for type detection,
 * not a reader: it validates nothing but the bounds it reads within, and it never throws.
 *
 * @returns `undefined` when the bytes do not start like a ZIP archive (`PK\3\4`, or the end
 * record of an empty archive).
 */
export function zipEntryNames(bytes: Uint8Array): ZipEntryNames | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (at: number): number | undefined =>
    at + 4 <= view.byteLength ? view.getUint32(at, true) : undefined;
  const first = u32(0);
  if (first !== LOCAL_HEADER && first !== END_OF_CENTRAL_DIRECTORY) return undefined;
  return centralDirectory(view) ?? { names: localHeaderNames(view), complete: false };
}

function centralDirectory(view: DataView): ZipEntryNames | undefined {
  const end = findEndRecord(view);
  if (end === undefined) return undefined;
  let count = view.getUint16(end + 10, true);
  let size = view.getUint32(end + 12, true);
  let offset = view.getUint32(end + 16, true);
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    const locator = end - 20;
    if (locator < 0 || view.getUint32(locator, true) !== ZIP64_LOCATOR) return undefined;
    const zip64End = Number(view.getBigUint64(locator + 8, true));
    if (zip64End + 56 > view.byteLength || view.getUint32(zip64End, true) !== ZIP64_END) return undefined;
    count = Number(view.getBigUint64(zip64End + 32, true));
    size = Number(view.getBigUint64(zip64End + 40, true));
    offset = Number(view.getBigUint64(zip64End + 48, true));
  }
  if (offset + size > view.byteLength) return undefined;
  const names: string[] = [];
  let at = offset;
  for (let i = 0; i < Math.min(count, MAX_NAMES); i += 1) {
    if (at + 46 > view.byteLength || view.getUint32(at, true) !== CENTRAL_HEADER) return undefined;
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    if (at + 46 + nameLength > view.byteLength) return undefined;
    names.push(decodeName(view, at + 46, nameLength));
    at += 46 + nameLength + extraLength + commentLength;
  }
  return { names, complete: true };
}

function findEndRecord(view: DataView): number | undefined {
  const lowest = Math.max(0, view.byteLength - END_SEARCH_WINDOW);
  for (let at = view.byteLength - 22; at >= lowest; at -= 1) {
    if (view.getUint32(at, true) === END_OF_CENTRAL_DIRECTORY) return at;
  }
  return undefined;
}

function localHeaderNames(view: DataView): string[] {
  const names: string[] = [];
  let at = 0;
  while (
    names.length < MAX_NAMES &&
    at + 30 <= view.byteLength &&
    view.getUint32(at, true) === LOCAL_HEADER
  ) {
    const flags = view.getUint16(at + 6, true);
    const compressedSize = view.getUint32(at + 18, true);
    const nameLength = view.getUint16(at + 26, true);
    const extraLength = view.getUint16(at + 28, true);
    if (at + 30 + nameLength > view.byteLength) break;
    names.push(decodeName(view, at + 30, nameLength));
    // With a data descriptor (bit 3) or ZIP64 sizes, where the data ends is not in the header.
    if ((flags & 0x08) !== 0 || compressedSize === 0xffffffff) break;
    at += 30 + nameLength + extraLength + compressedSize;
  }
  return names;
}

function decodeName(view: DataView, at: number, length: number): string {
  return new TextDecoder('utf-8').decode(new Uint8Array(view.buffer, view.byteOffset + at, length));
}
