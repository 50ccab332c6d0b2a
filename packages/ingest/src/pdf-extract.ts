import { inspect } from 'node:util';
import { PDFParse } from 'pdf-parse';
import { ParseFailure, type ParseOutput } from './parse-protocol.js';

/**
 * Extracts the text of a PDF with pdf-parse, page by page, in a parse thread. pdf.js runs
 * synchronously for as long as a page takes, so this can block its thread for minutes on a
 * hostile file; the pool's timer and memory guard stop it by terminating the thread.
 *
 * @param onPage - Called after each page, which is also how the pool tells a working parse from a stuck one.
 * @throws ParseFailure `ENCRYPTED_DOCUMENT` or `INVALID_DOCUMENT` (see {@link classifyPdfError}).
 */
export async function extractPdf(
  data: ArrayBuffer,
  onPage: (page: number, pages: number) => void,
): Promise<ParseOutput> {
  const parser = new PDFParse({ data: new Uint8Array(data) });
  try {
    const first = await parser.getText({ partial: [1] });
    const pages = first.total;
    const sections: ParseOutput['sections'] = [];
    for (let page = 1; page <= pages; page += 1) {
      const result = page === 1 ? first : await parser.getText({ partial: [page] });
      sections.push({ page, text: result.pages[0]?.text ?? '' });
      onPage(page, pages);
    }
    return { pages, sections };
  } catch (err) {
    const { code, message } = classifyPdfError(err);
    throw new ParseFailure(code, message, { cause: err });
  } finally {
    await parser.destroy().catch(() => undefined);
  }
}

/**
 * Maps anything pdf-parse or pdf.js throws to a Sluice code. pdf.js errors are classes of its
 * own bundle (and are rebuilt when they cross pdf.js's internal worker boundary), so they are
 * told apart by `name`, never by `instanceof`. A password request is `ENCRYPTED_DOCUMENT`; every
 * other failure of the parse (`InvalidPDFException`, `UnknownErrorException`, `FormatError`, a
 * stack overflow on deeply nested objects, …) is `INVALID_DOCUMENT`. The message keeps the
 * original name and message.
 */
export function classifyPdfError(err: unknown): {
  code: 'INVALID_DOCUMENT' | 'ENCRYPTED_DOCUMENT';
  message: string;
} {
  const { name, message } = describe(err);
  if (name === 'PasswordException') {
    return { code: 'ENCRYPTED_DOCUMENT', message: `the PDF needs a password to open (${name}: ${message})` };
  }
  return { code: 'INVALID_DOCUMENT', message: `the PDF could not be read (${name}: ${message})` };
}

function describe(err: unknown): { name: string; message: string } {
  if (typeof err === 'object' && err !== null) {
    const { name, message } = err as { name?: unknown; message?: unknown };
    return {
      name: typeof name === 'string' && name !== '' ? name : 'Error',
      message: typeof message === 'string' ? message : inspect(err, { depth: 1, breakLength: Infinity }),
    };
  }
  return { name: typeof err, message: String(err) };
}
