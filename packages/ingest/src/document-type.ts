import { isUtf8 } from 'node:buffer';
import {
  DOCUMENT_TYPE_NAMES,
  SUPPORTED_TYPES_DESCRIPTION,
  SluiceError,
  typeFromFileName,
  type DocumentType,
} from '@sluice/core';
import { cfbDirectory, type CfbDirectory } from './cfb-directory.js';
import { zipEntryNames, type ZipEntryNames } from './zip-entries.js';

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
  {
    name: 'UTF-16 text (only UTF-8 text, or HTML in any encoding, is supported)',
    offset: 0,
    bytes: [0xff, 0xfe],
  },
  {
    name: 'UTF-16 text (only UTF-8 text, or HTML in any encoding, is supported)',
    offset: 0,
    bytes: [0xfe, 0xff],
  },
];

/**
 * Decides how a file is loaded. In order:
 *
 * 1. a ZIP archive → `docx` when it holds a WordprocessingML main part (`word/document.xml`); a
 *    ZIP whose central directory is not in `bytes` (an upload's first 64 KiB, a truncated file)
 *    is also `docx` when it is named `.docx` and its first entries are Office Open XML parts, so
 *    that a truncated DOCX fails later as `INVALID_DOCUMENT`; any other ZIP is `pdf` when named
 *    `.pdf` (rule 3), else refused, naming what it is (XLSX, PPTX, ODT, EPUB, a plain ZIP);
 * 2. a Compound File (OLE2) container named `.docx` or unnamed → `docx` when it holds an
 *    `EncryptedPackage` stream (a password-protected DOCX, which the loader refuses as
 *    `ENCRYPTED_DOCUMENT`), or when its directory lies beyond `bytes`; a Word 97–2003 `.doc` or
 *    any other OLE2 file is refused, naming it;
 * 3. a `%PDF-` header within the first 1024 bytes, or a `.pdf` name → `pdf`, whatever else the
 *    bytes are, so that non-PDF bytes sent as PDF fail later as `INVALID_DOCUMENT`;
 * 4. a `.docx` name → `docx` whatever the bytes are (they fail later as `INVALID_DOCUMENT`);
 * 5. an `.html` or `.htm` name, or no type from the name and content that starts like HTML
 *    (after a BOM and whitespace: `<!DOCTYPE html`, `<html`, `<head`, `<body`, … as the WHATWG
 *    MIME sniffing standard lists them) → `html`, in any character encoding, unless the bytes are
 *    of a known binary format;
 * 6. otherwise the content must be text (valid UTF-8 without NUL bytes): `markdown` for a `.md` or
 *    `.markdown` name, `text` for anything else (`.txt`, `.text`, other names, or none).
 *
 * @param bytes - The whole file, or its first bytes (the API sniffs the first 64 KiB).
 * @param fileName - The uploaded name or path; only its extension is used, case-insensitively.
 * @throws SluiceError `UNSUPPORTED_TYPE` for content that is none of the supported types (the
 * message names the format when it is a known one, and lists the supported types);
 * `INVALID_DOCUMENT` for a zero-byte `.pdf` or `.docx`; `NO_TEXT` for any other zero-byte file.
 */
export function detectDocumentType(bytes: Uint8Array, fileName?: string): DocumentType {
  const byName = typeFromFileName(fileName);
  if (bytes.byteLength === 0) {
    if (byName === 'pdf' || byName === 'docx') {
      throw new SluiceError('INVALID_DOCUMENT', `the ${DOCUMENT_TYPE_NAMES[byName]} is empty (zero bytes)`);
    }
    throw new SluiceError('NO_TEXT', 'the file is empty (zero bytes)');
  }
  const zip = zipEntryNames(bytes);
  if (zip !== undefined) return zipType(zip, byName, fileName);
  const cfb = cfbDirectory(bytes);
  if (cfb !== undefined && byName !== 'pdf') return cfbType(cfb, byName, fileName);
  if (hasPdfHeader(bytes) || byName === 'pdf') return 'pdf';
  if (byName === 'docx') return 'docx';
  const binary = binaryFormat(bytes);
  if (byName === 'html' || (byName === undefined && looksLikeHtml(bytes))) {
    // Legacy encodings (windows-1252, Shift_JIS) are not UTF-8, so only a known format is refused.
    if (binary?.known && !binary.name.startsWith('UTF-16')) throw unsupported(binary.name, fileName);
    return 'html';
  }
  if (binary !== undefined) throw unsupported(binary.name, fileName);
  return byName ?? 'text';
}

/** A WordprocessingML main part; Word writes `word/document.xml`, some versions `word/document2.xml`. */
const WORD_MAIN_PART = /^word\/document\d*\.xml$/;
/** Parts every Office Open XML package has, whatever application wrote it. */
const OPC_PART = /^(?:\[Content_Types\]\.xml|_rels\/|docProps\/|word\/|customXml\/)/;

function zipType(zip: ZipEntryNames, byName: DocumentType | undefined, fileName?: string): DocumentType {
  const { names, complete } = zip;
  if (names.some((name) => WORD_MAIN_PART.test(name))) return 'docx';
  if (!complete && byName === 'docx' && names.length > 0 && names.every((name) => OPC_PART.test(name))) {
    return 'docx';
  }
  if (byName === 'pdf') return 'pdf';
  throw unsupported(describeZip(names), fileName);
}

function describeZip(names: readonly string[]): string {
  const has = (prefix: string) => names.some((name) => name.startsWith(prefix));
  if (has('xl/')) return 'Excel workbook (XLSX)';
  if (has('ppt/')) return 'PowerPoint presentation (PPTX)';
  if (has('META-INF/container.xml')) return 'EPUB e-book (a ZIP archive)';
  if (names.includes('mimetype') && names.includes('content.xml')) return 'OpenDocument file (ODT, ODS, ODP)';
  return 'ZIP archive without word/document.xml (not a DOCX)';
}

function cfbType(cfb: CfbDirectory, byName: DocumentType | undefined, fileName?: string): DocumentType {
  if (byName === undefined || byName === 'docx') {
    if (cfb.names.includes('EncryptedPackage')) return 'docx';
    if (cfb.names.includes('WordDocument')) {
      throw unsupported('legacy Word 97-2003 document (.doc); save it as .docx', fileName);
    }
    if (!cfb.complete && byName === 'docx') return 'docx';
  }
  throw unsupported('legacy Microsoft Office (OLE2) file', fileName);
}

function unsupported(what: string, fileName: string | undefined): SluiceError {
  return new SluiceError(
    'UNSUPPORTED_TYPE',
    `unsupported file type: ${what}${named(fileName)}; Sluice ingests ${SUPPORTED_TYPES_DESCRIPTION}`,
    { details: { detected: what } },
  );
}

/**
 * The tags the WHATWG MIME Sniffing Standard's "rules for identifying an unknown MIME type" take
 * for HTML, when followed by a space or `>`; `<!--` on its own.
 */
const HTML_START =
  /^(?:<!doctype html|<html|<head|<script|<iframe|<h1|<div|<font|<table|<a|<style|<title|<b|<body|<br|<p)[ \t\n\f\r>]|^<!--/i;

/** Whether the bytes start like an HTML document, after a BOM and whitespace (ASCII-compatible or UTF-16). */
function looksLikeHtml(bytes: Uint8Array): boolean {
  let head: string;
  if (bytes[0] === 0xff && bytes[1] === 0xfe)
    head = new TextDecoder('utf-16le').decode(bytes.subarray(2, 1026));
  else if (bytes[0] === 0xfe && bytes[1] === 0xff)
    head = new TextDecoder('utf-16be').decode(bytes.subarray(2, 1026));
  else head = new TextDecoder('latin1').decode(bytes.subarray(0, 512));
  return HTML_START.test(head.replace(/^\uFEFF|^\u00EF\u00BB\u00BF/, '').trimStart());
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

/**
 * Names the binary format of `bytes` (`known` when a signature matched), or `undefined` when they
 * are UTF-8 text without NUL bytes.
 */
function binaryFormat(bytes: Uint8Array): { name: string; known: boolean } | undefined {
  const hasNul = bytes.includes(0);
  // Text is decided first, so that a text file that happens to start with "MZ" or "BZh" stays text.
  if (!hasNul && isUtf8(bytes)) return undefined;
  const known = BINARY_SIGNATURES.find(
    ({ offset, bytes: signature }) =>
      bytes.length >= offset + signature.length && signature.every((byte, i) => bytes[offset + i] === byte),
  );
  if (known) return { name: known.name, known: true };
  return {
    name: hasNul ? 'binary data (contains NUL bytes)' : 'binary data (not valid UTF-8 text)',
    known: false,
  };
}

function named(fileName: string | undefined): string {
  return fileName === undefined ? '' : ` (${fileName})`;
}
