/** The stream and storage names a sniffer could read from a Compound File (OLE2) container. */
export interface CfbDirectory {
  /** Names of the streams and storages found, in directory order (the root entry excluded). */
  names: string[];
  /** Whether the whole directory was read; otherwise some of it lies beyond the bytes given. */
  complete: boolean;
}

/** `D0 CF 11 E0 A1 B1 1A E1`: every Compound File Binary (OLE2) container starts with it. */
const CFB_SIGNATURE = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1] as const;
const END_OF_CHAIN = 0xfffffffe;
const FREE_SECTOR = 0xffffffff;
/** Bounds the walk on a hostile file (a directory chain that loops or never ends). */
const MAX_DIRECTORY_SECTORS = 4096;

/** Tells whether `bytes` start with the Compound File (OLE2) signature. */
export function isCfb(bytes: Uint8Array): boolean {
  return bytes.length >= CFB_SIGNATURE.length && CFB_SIGNATURE.every((byte, i) => bytes[i] === byte);
}

/**
 * Reads the directory of a Compound File Binary container ([MS-CFB]): the names of its streams
 * and storages, e.g. `EncryptedPackage` and `EncryptionInfo` in a password-protected Office Open
 * XML file, or `WordDocument` in a Word 97–2003 `.doc`. Works on the first bytes of a file as far
 * as they go (`complete` tells whether they held the whole directory). A sniffer: it reads no
 * stream and never throws.
 *
 * @returns `undefined` when the bytes do not start with the CFB signature.
 */
export function cfbDirectory(bytes: Uint8Array): CfbDirectory | undefined {
  if (!isCfb(bytes) || bytes.length < 512) return isCfb(bytes) ? { names: [], complete: false } : undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shift = view.getUint16(0x1e, true);
  if (shift !== 9 && shift !== 12) return { names: [], complete: false };
  const sectorSize = 1 << shift;
  const sectorOffset = (sector: number): number => (sector + 1) * sectorSize;
  const fat = readFat(view, sectorSize, sectorOffset);
  const names: string[] = [];
  const seen = new Set<number>();
  let sector = view.getUint32(0x30, true);
  while (sector !== END_OF_CHAIN) {
    if (seen.has(sector) || seen.size >= MAX_DIRECTORY_SECTORS || sector === FREE_SECTOR) {
      return { names, complete: false };
    }
    seen.add(sector);
    const start = sectorOffset(sector);
    if (start + sectorSize > view.byteLength) return { names, complete: false };
    for (let entry = start; entry < start + sectorSize; entry += 128) {
      const type = view.getUint8(entry + 0x42);
      // 1: storage, 2: stream (0: unused, 5: the root entry).
      if (type !== 1 && type !== 2) continue;
      const nameBytes = Math.min(64, view.getUint16(entry + 0x40, true));
      const name = new TextDecoder('utf-16le').decode(
        new Uint8Array(view.buffer, view.byteOffset + entry, Math.max(0, nameBytes - 2)),
      );
      names.push(name);
    }
    const next = fat.get(sector);
    if (next === undefined) return { names, complete: false };
    sector = next;
  }
  return { names, complete: true };
}

/** The file allocation table, as far as the bytes hold it: sector → next sector of its chain. */
function readFat(
  view: DataView,
  sectorSize: number,
  sectorOffset: (sector: number) => number,
): Map<number, number> {
  const fatSectors: number[] = [];
  for (let i = 0; i < 109; i += 1) {
    const sector = view.getUint32(0x4c + i * 4, true);
    if (sector === FREE_SECTOR) break;
    fatSectors.push(sector);
  }
  // More FAT sectors than the header holds are listed in a chain of DIFAT sectors.
  let difat = view.getUint32(0x44, true);
  const seen = new Set<number>();
  while (difat !== END_OF_CHAIN && difat !== FREE_SECTOR && !seen.has(difat)) {
    seen.add(difat);
    const start = sectorOffset(difat);
    if (start + sectorSize > view.byteLength) break;
    const perSector = sectorSize / 4 - 1;
    for (let i = 0; i < perSector; i += 1) {
      const sector = view.getUint32(start + i * 4, true);
      if (sector !== FREE_SECTOR) fatSectors.push(sector);
    }
    difat = view.getUint32(start + perSector * 4, true);
  }
  const fat = new Map<number, number>();
  const perSector = sectorSize / 4;
  fatSectors.forEach((fatSector, index) => {
    const start = sectorOffset(fatSector);
    if (start + sectorSize > view.byteLength) return;
    for (let i = 0; i < perSector; i += 1)
      fat.set(index * perSector + i, view.getUint32(start + i * 4, true));
  });
  return fat;
}
