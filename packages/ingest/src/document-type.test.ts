import { readFileSync } from 'node:fs';
import { SUPPORTED_EXTENSIONS, SluiceError } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { detectDocumentType } from './document-type.js';

const corpus = new URL('../../../test/corpus/', import.meta.url);
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const PNG = Uint8Array.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
]);
const ZIP = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 8, 0]);

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
  ] as const)('%s', (_label, content, fileName, expected) => {
    expect(detectDocumentType(content, fileName)).toBe(expected);
  });

  it.each([
    ['PNG', PNG, 'image.png', /PNG image/],
    ['PNG named .md', PNG, 'image.md', /PNG image/],
    ['DOCX (a ZIP archive)', ZIP, 'contract.docx', /ZIP archive/],
    ['gzip', Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), 'x.txt.gz', /gzip/],
    ['UTF-16 text', Uint8Array.from([0xff, 0xfe, 0x41, 0, 0x42, 0]), 'utf16.txt', /UTF-16/],
    ['invalid UTF-8', Uint8Array.from([0x61, 0xc3, 0x28, 0x62]), 'broken.txt', /not valid UTF-8/],
    ['NUL bytes', Uint8Array.from([0x61, 0, 0x62]), undefined, /NUL/],
  ])('rejects %s as UNSUPPORTED_TYPE naming it', (_label, content, fileName, message) => {
    const error = failure(() => detectDocumentType(content, fileName));
    expect(error.code).toBe('UNSUPPORTED_TYPE');
    expect(error.message).toMatch(message);
  });

  it('treats a zero-byte .pdf as INVALID_DOCUMENT and any other empty file as NO_TEXT', () => {
    expect(failure(() => detectDocumentType(new Uint8Array(), 'empty.pdf')).code).toBe('INVALID_DOCUMENT');
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
    expect([...SUPPORTED_EXTENSIONS].sort()).toEqual(['.markdown', '.md', '.pdf', '.text', '.txt']);
  });
});
