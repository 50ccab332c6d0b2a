import { readFileSync, readdirSync } from 'node:fs';
import { SUPPORTED_EXTENSIONS, SluiceError } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { detectDocumentType } from './document-type.js';

const corpus = new URL('../../../test/corpus/', import.meta.url);
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const PNG = Uint8Array.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
]);
const ZIP = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 8, 0]);
const docx = (path: string): Uint8Array => readFileSync(new URL(path, corpus));

/** A stored ZIP archive with one empty entry: the smallest archive with a central directory. */
function zipOf(name: string): Uint8Array {
  const file = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(file.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(file.length, 28);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + file.length, 12);
  end.writeUInt32LE(30 + file.length, 16);
  return Buffer.concat([local, file, central, file, end]);
}

function failure(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
  throw new Error('expected a SluiceError');
}

describe('detectDocumentType', () => {
  it.each([
    [
      'a real PDF, whatever its name',
      readFileSync(new URL('pdf/good/bitcoin.pdf', corpus)),
      'paper.txt',
      'pdf',
    ],
    ['a real PDF without a name', readFileSync(new URL('pdf/good/bitcoin.pdf', corpus)), undefined, 'pdf'],
    ['%PDF- after leading garbage', bytes(`${'x'.repeat(500)}%PDF-1.4\n`), undefined, 'pdf'],
    [
      'HTML saved as .pdf (fails later as INVALID_DOCUMENT)',
      readFileSync(new URL('pdf/hostile/not-a-pdf.pdf', corpus)),
      'not-a-pdf.pdf',
      'pdf',
    ],
    [
      'a PDF without its header',
      readFileSync(new URL('pdf/hostile/bug1606566.pdf', corpus)),
      'bug1606566.pdf',
      'pdf',
    ],
    ['PNG bytes named .PDF', PNG, 'scan.PDF', 'pdf'],
    ['Markdown by extension', bytes('# Title\n'), 'docs/README.md', 'markdown'],
    ['Markdown, long extension, upper case', bytes('# Title\n'), 'NOTES.MARKDOWN', 'markdown'],
    ['.txt', bytes('hello'), 'a.txt', 'text'],
    ['.text', bytes('hello'), 'a.text', 'text'],
    ['text without a name', bytes('plain words'), undefined, 'text'],
    ['text with an unknown extension', bytes('{"a":1}'), 'data.json', 'text'],
    ['UTF-8 text with a BOM and non-Latin script', bytes('\uFEFFПривет, 世界'), 'hello.txt', 'text'],
    [
      'text that happens to start like an executable',
      bytes('MZ is a postal code prefix'),
      'notes.txt',
      'text',
    ],
    ['a Windows path', bytes('# x'), 'C:\\docs\\guide.md', 'markdown'],
    ['a dot file is not an extension', bytes('x'), '.md', 'text'],
    ['a DOCX named .docx', docx('docx/good/testWORD.docx'), 'report.docx', 'docx'],
    ['a DOCX without a name', docx('docx/good/testWORD.docx'), undefined, 'docx'],
    ['a DOCX named .txt (read as the DOCX it is)', docx('docx/good/testComment.docx'), 'notes.txt', 'docx'],
    ['a DOCX named .pdf (read as the DOCX it is)', docx('docx/good/testWORD.docx'), 'report.pdf', 'docx'],
    [
      'a PDF named .docx (read as the PDF it is)',
      readFileSync(new URL('pdf/good/bitcoin.pdf', corpus)),
      'paper.docx',
      'pdf',
    ],
    [
      'an encrypted DOCX (fails later as ENCRYPTED_DOCUMENT)',
      docx('docx/hostile/runbook-password.docx'),
      'secret.docx',
      'docx',
    ],
    ['an encrypted DOCX without a name', docx('docx/hostile/runbook-password.docx'), undefined, 'docx'],
    [
      'a truncated DOCX (fails later as INVALID_DOCUMENT)',
      docx('docx/hostile/runbook-truncated.docx'),
      'cut.docx',
      'docx',
    ],
    ['text named .docx (fails later as INVALID_DOCUMENT)', bytes('not a document'), 'notes.docx', 'docx'],
    ['HTML by name', bytes('<p>hello</p>'), 'page.html', 'html'],
    ['HTML by name, .htm, upper case', bytes('hello'), 'PAGE.HTM', 'html'],
    ['HTML by content, no name', bytes('  <!DOCTYPE html><html><body>hi</body></html>'), undefined, 'html'],
    ['HTML by content, unknown extension', bytes('<html lang="en"><p>hi'), 'index.php', 'html'],
    ['HTML by content after a UTF-8 BOM', bytes('\uFEFF<!doctype html>'), undefined, 'html'],
    ['windows-1252 HTML, not UTF-8, by name', Uint8Array.from([0x3c, 0x70, 0x3e, 0xe9]), 'page.html', 'html'],
    [
      'windows-1252 HTML, not UTF-8, by content',
      Uint8Array.from([0x3c, 0x70, 0x3e, 0xe9]),
      undefined,
      'html',
    ],
    ['HTML-looking Markdown keeps its name', bytes('<div>not html</div>\n# Title'), 'README.md', 'markdown'],
    ['HTML-looking text named .txt keeps its name', bytes('<html>'), 'notes.txt', 'text'],
  ] as const)('%s', (_label, content, fileName, expected) => {
    expect(detectDocumentType(content, fileName)).toBe(expected);
  });

  it.each([
    ['PNG', PNG, 'image.png', /PNG image/],
    ['PNG named .md', PNG, 'image.md', /PNG image/],
    ['PNG named .html', PNG, 'image.html', /PNG image/],
    ['the start of a ZIP named .docx, without a single entry to read', ZIP, 'contract.docx', /ZIP archive/],
    [
      'a Word 97-2003 .doc named .docx',
      docx('docx/hostile/runbook-word97.docx'),
      'report.docx',
      /Word 97-2003 document \(\.doc\)/,
    ],
    ['a Word 97-2003 .doc', docx('docx/hostile/runbook-word97.docx'), 'report.doc', /Word 97-2003 document/],
    [
      'a Word 97-2003 .doc named .txt',
      docx('docx/hostile/runbook-word97.docx'),
      'report.txt',
      /legacy Microsoft Office/,
    ],
    ['an XLSX-like ZIP named .docx', zipOf('xl/workbook.xml'), 'sheet.docx', /Excel workbook/],
    ['a plain ZIP', zipOf('notes/readme.txt'), 'archive.zip', /ZIP archive without word\/document\.xml/],
    ['gzip', Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), 'x.txt.gz', /gzip/],
    ['UTF-16 text', Uint8Array.from([0xff, 0xfe, 0x41, 0, 0x42, 0]), 'utf16.txt', /UTF-16/],
    ['invalid UTF-8', Uint8Array.from([0x61, 0xc3, 0x28, 0x62]), 'broken.txt', /not valid UTF-8/],
    ['NUL bytes', Uint8Array.from([0x61, 0, 0x62]), undefined, /NUL/],
  ])('rejects %s as UNSUPPORTED_TYPE naming it', (_label, content, fileName, message) => {
    const error = failure(() => detectDocumentType(content, fileName));
    expect(error.code).toBe('UNSUPPORTED_TYPE');
    expect(error.message).toMatch(message);
  });

  it('lists the supported types in every refusal', () => {
    const error = failure(() => detectDocumentType(PNG, 'image.png'));
    expect(error.message).toContain(
      'Sluice ingests PDF (.pdf), DOCX (.docx), HTML (.html .htm), Markdown (.md .markdown), UTF-8 text (.txt .text)',
    );
  });

  it('treats a zero-byte .pdf or .docx as INVALID_DOCUMENT and any other empty file as NO_TEXT', () => {
    expect(failure(() => detectDocumentType(new Uint8Array(), 'empty.pdf')).code).toBe('INVALID_DOCUMENT');
    expect(failure(() => detectDocumentType(new Uint8Array(), 'empty.docx')).code).toBe('INVALID_DOCUMENT');
    expect(failure(() => detectDocumentType(new Uint8Array(), 'empty.md')).code).toBe('NO_TEXT');
    expect(failure(() => detectDocumentType(new Uint8Array())).code).toBe('NO_TEXT');
  });

  it('types every file of the corpus as the loader that should read it', () => {
    expect(
      detectDocumentType(readFileSync(new URL('pdf/hostile/empty_protected.pdf', corpus)), 'x.pdf'),
    ).toBe('pdf');
    const markdown = readFileSync(
      new URL('markdown/en/docs/concepts/workloads/pods/pod-lifecycle.md', corpus),
    );
    expect(detectDocumentType(markdown, 'pod-lifecycle.md')).toBe('markdown');
  });

  it('lists the supported extensions', () => {
    expect([...SUPPORTED_EXTENSIONS].sort()).toEqual([
      '.docx',
      '.htm',
      '.html',
      '.markdown',
      '.md',
      '.pdf',
      '.text',
      '.txt',
    ]);
  });

  it('types every DOCX and HTML file of the corpus as the loader that should read it', () => {
    for (const dir of ['docx/good/', 'docx/hostile/']) {
      for (const file of readdirSync(new URL(dir, corpus))) {
        const bytes = readFileSync(new URL(dir + file, corpus));
        if (file === 'runbook-word97.docx') continue;
        // Its own name, no name, and the first 64 KiB the API sniffs: all DOCX.
        expect(detectDocumentType(bytes, file), file).toBe('docx');
        expect(detectDocumentType(bytes.subarray(0, 64 * 1024), file), `${file}, head`).toBe('docx');
        if (!file.includes('truncated')) expect(detectDocumentType(bytes), `${file}, unnamed`).toBe('docx');
      }
    }
    for (const dir of ['html/good/', 'html/odd/', 'html/hostile/']) {
      for (const file of readdirSync(new URL(dir, corpus))) {
        const bytes = readFileSync(new URL(dir + file, corpus));
        expect(detectDocumentType(bytes, file), file).toBe('html');
        expect(detectDocumentType(bytes, 'page.htm'), file).toBe('html');
        expect(detectDocumentType(bytes.subarray(0, 64 * 1024)), `${file}, unnamed`).toBe('html');
      }
    }
  });
});
