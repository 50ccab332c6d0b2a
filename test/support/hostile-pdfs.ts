import type { ErrorCode } from '@sluice/core';

/**
 * Every file of corpus/pdf/hostile and the outcome Sluice gives it: an error code, or `ok` for
 * the damaged or owner-password-only files that pdf.js still reads with text. Decided from
 * MANIFEST.tsv (pdfparse_status, pdfparse_error, note) and checked against the loader.
 */
export const HOSTILE_PDFS: readonly (readonly [file: string, expected: ErrorCode | 'ok', reason: string])[] =
  [
    [
      'Brotli-Prototype-FileA.pdf',
      'INVALID_DOCUMENT',
      'non-standard BrotliDecode filter; "Invalid Root reference"',
    ],
    ['Pages-tree-refs.pdf', 'INVALID_DOCUMENT', 'circular page tree'],
    ['REDHAT-1531897-0.pdf', 'INVALID_DOCUMENT', 'missing endstream, broken objects'],
    ['append-xref-loop.pdf', 'ok', 'xref /Prev chain loops, but pdf.js recovers all 30 pages with text'],
    ['bad-xref-entry.pdf', 'INVALID_DOCUMENT', 'malformed xref entry'],
    [
      'bomb_giant.pdf',
      'PARSE_TIMEOUT',
      'giant JBIG2 content streams: minutes and GBs (tested on its own below)',
    ],
    ['bug1020226.pdf', 'INVALID_DOCUMENT', '184-byte broken file'],
    ['bug1606566.pdf', 'ok', 'no %PDF- header, but pdf.js reads its one page of text'],
    ['empty.pdf', 'INVALID_DOCUMENT', 'zero bytes'],
    ['empty_protected.pdf', 'NO_TEXT', 'owner password only, so it opens; its one page is blank'],
    [
      'encrypted_doc_no_id.pdf',
      'NO_TEXT',
      'opens without a password (no /ID in the trailer); a fax image, no text',
    ],
    ['imagemagick-images.pdf', 'NO_TEXT', 'six image-only pages'],
    ['invalid.pdf', 'INVALID_DOCUMENT', 'invalid xref entry'],
    ['issue-00352-asw-oct96-p41.pdf', 'ok', 'owner password only; a real magazine page with text'],
    ['issue-146.pdf', 'INVALID_DOCUMENT', 'arrays nested 20,476 deep overflow the parser'],
    ['issue-1688a.pdf', 'NO_TEXT', 'predictor /Colors 536870913: seconds of CPU, then an empty page'],
    ['issue-203-decimalize.pdf', 'NO_TEXT', 'scanned Chinese document, image only'],
    ['issue21436.pdf', 'INVALID_DOCUMENT', 'page tree /Kids is not an array'],
    ['issue5481.pdf', 'NO_TEXT', 'three photo pages, no text layer'],
    ['libreoffice-writer-password.pdf', 'ENCRYPTED_DOCUMENT', 'user password required'],
    ['not-a-pdf.pdf', 'INVALID_DOCUMENT', 'an HTML error page saved as .pdf'],
    ['poppler-742-0-fuzzed.pdf', 'INVALID_DOCUMENT', 'fuzzed: "Illegal character"'],
    ['poppler-85140-0.pdf', 'NO_TEXT', '/Count claims 213,804,087 pages; pdf.js reads one, without text'],
    ['poppler-90-0-fuzzed.pdf', 'INVALID_DOCUMENT', 'fuzzed: corrupt flate stream'],
    ['poppler-91414-0-53.pdf', 'ok', 'self-referencing object, yet one page with text'],
    ['r4-owner-password.pdf', 'ok', 'owner password only (R4), opens and has text'],
    ['r6-user-password.pdf', 'ENCRYPTED_DOCUMENT', 'AES-256 (R6), user password required'],
    ['truncated.pdf', 'INVALID_DOCUMENT', 'first half of bitcoin.pdf'],
    ['unreadablemetadata.pdf', 'INVALID_DOCUMENT', 'broken root and metadata'],
    ['xref_command_missing.pdf', 'ok', 'xref keyword missing, but pdf.js recovers the text'],
  ];
