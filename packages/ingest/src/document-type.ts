import { isUtf8 } from 'node:buffer';
import { SluiceError, typeFromFileName, type DocumentType } from '@sluice/core';

/** How far into the file a `%PDF-` header is looked for; pdf.js also accepts leading garbage. */
const PDF_HEADER_WINDOW = 1024;

/** Signatures of common binary formats, so that a rejection can say what the bytes are. */
const BINARY_SIGNATURES: readonly { name: string; offset: number; bytes: readonly number[] }[] = [
  { name: 'PNG image', offset: 0, bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { name: 'JPEG image', offset: 0, bytes: [0xff, 0xd8, 0xff] },
  { name: 'GIF image', offset: 0, bytes: [0x47, 0x49, 0x46, 0x38] },
  { name: 'WebP image', offset: 8, bytes: [0x57, 0x45, 0x42, 0x50] },
  { name: 'TIFF image', offset: 0, bytes: [0x49, 0x49, 0x2a, 0x00] },
  { name: 'TIFF image', offset: 0, bytes: [0x4d, 0x4d, 0x00, 0x2a] },
  {
    name: 'ZIP archive (DOCX, XLSX, PPTX, ODT and EPUB are ZIP archives)',
    offset: 0,
    bytes: [0x50, 0x4b, 0x03, 0x04],
  },
  {
    name: 'legacy Microsoft Office (OLE2) file',
    offset: 0,
    bytes: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
  },
  { name: 'gzip archive', offset: 0, bytes: [0x1f, 0x8b] },
  { name: 'bzip2 archive', offset: 0, bytes: [0x42, 0x5a, 0x68] },
  { name: 'xz archive', offset: 0, bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { name: 'zstd archive', offset: 0, bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  { name: '7-Zip archive', offset: 0, bytes: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c] },
  { name: 'RAR archive', offset: 0, bytes: [0x52, 0x61, 0x72, 0x21, 0x1a, 0x07] },
  { name: 'ELF executable', offset: 0, bytes: [0x7f, 0x45, 0x4c, 0x46] },
  { name: 'Windows executable', offset: 0, bytes: [0x4d, 0x5a] },
  { name: 'WebAssembly module', offset: 0, bytes: [0x00, 0x61, 0x73, 0x6d] },
  { name: 'SQLite database', offset: 0, bytes: [0x53, 0x51, 0x4c, 0x69, 0x74, 0x65, 0x20, 0x66] },
  { name: 'UTF-16 text (only UTF-8 is supported)', offset: 0, bytes: [0xff, 0xfe] },
  { name: 'UTF-16 text (only UTF-8 is supported)', offset: 0, bytes: [0xfe, 0xff] },
];

/**
 * Decides how a file is loaded. In order:
 *
 * 1. a `%PDF-` header within the first 1024 bytes → `pdf`, whatever the name says;
 * 2. a `.pdf` name → `pdf` whatever the bytes are, so that non-PDF bytes sent as PDF (an HTML
 *    error page, a truncated download, a PDF missing its header, which pdf.js may still read) fail
 *    later as `INVALID_DOCUMENT` rather than being ingested as text;
 * 3. otherwise the content must be text (valid UTF-8 without NUL bytes): `markdown` for a `.md` or
 *    `.markdown` name, `text` for anything else (`.txt`, `.text`, other names, or none).
 *
 * @param bytes - The whole file.
 * @param fileName - The uploaded name or path; only its extension is used, case-insensitively.
 * @throws SluiceError `UNSUPPORTED_TYPE` for binary content that is not a PDF (the message names
 * the format when it is a known one); `INVALID_DOCUMENT` for a zero-byte `.pdf`; `NO_TEXT` for any
 * other zero-byte file.
 */
export function detectDocumentType(bytes: Uint8Array, fileName?: string): DocumentType {
  const byName = typeFromFileName(fileName);
  if (bytes.byteLength === 0) {
    if (byName === 'pdf') throw new SluiceError('INVALID_DOCUMENT', 'the PDF is empty (zero bytes)');
    throw new SluiceError('NO_TEXT', 'the file is empty (zero bytes)');
  }
  if (hasPdfHeader(bytes) || byName === 'pdf') return 'pdf';
  const binary = binaryFormat(bytes);
  if (binary !== undefined) {
    throw new SluiceError('UNSUPPORTED_TYPE', `unsupported file type: ${binary}${named(fileName)}`, {
      details: { detected: binary },
    });
  }
  return byName ?? 'text';
}

function hasPdfHeader(bytes: Uint8Array): boolean {
  const window = bytes.subarray(0, PDF_HEADER_WINDOW);
  for (let at = window.indexOf(0x25); at >= 0 && at + 5 <= window.length; at = window.indexOf(0x25, at + 1)) {
    if (
      window[at + 1] === 0x50 &&
      window[at + 2] === 0x44 &&
      window[at + 3] === 0x46 &&
      window[at + 4] === 0x2d
    ) {
      return true;
    }
  }
  return false;
}

/** Names the binary format of `bytes`, or `undefined` when they are UTF-8 text without NUL bytes. */
function binaryFormat(bytes: Uint8Array): string | undefined {
  const hasNul = bytes.includes(0);
  // Text is decided first, so that a text file that happens to start with "MZ" or "BZh" stays text.
  if (!hasNul && isUtf8(bytes)) return undefined;
  const known = BINARY_SIGNATURES.find(
    ({ offset, bytes: signature }) =>
      bytes.length >= offset + signature.length && signature.every((byte, i) => bytes[offset + i] === byte),
  );
  if (known) return known.name;
  return hasNul ? 'binary data (contains NUL bytes)' : 'binary data (not valid UTF-8 text)';
}

function named(fileName: string | undefined): string {
  return fileName === undefined ? '' : ` (${fileName})`;
}
