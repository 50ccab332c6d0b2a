/**
 * Entry point of a PDF parse thread (`node:worker_threads`), started by the parse pool. It takes
 * one {@link PdfParseRequest} at a time and answers with {@link PdfParseMessage}s. pdf.js runs
 * synchronously for as long as a page takes, so this thread can block for minutes on a hostile
 * file; the main thread's timer and memory guard are what stop it, by terminating the thread.
 *
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { PDFParse } from 'pdf-parse';
import { classifyPdfError } from './pdf-parse-protocol.js';
import type { PdfPageText, PdfParseMessage, PdfParseRequest } from './pdf-parse-protocol.js';

const port = parentPort;
if (!port) throw new Error('pdf-parse-thread must run in a worker thread');

function post(message: PdfParseMessage): void {
  port?.postMessage(message);
}

async function parse({ id, data }: PdfParseRequest): Promise<PdfParseMessage> {
  const parser = new PDFParse({ data: new Uint8Array(data) });
  try {
    // Page by page rather than one getText(): each page reports progress, which is also how the
    // main thread tells a working parse from a stuck one.
    const first = await parser.getText({ partial: [1] });
    const pages = first.total;
    const texts: PdfPageText[] = [];
    for (let page = 1; page <= pages; page += 1) {
      const result = page === 1 ? first : await parser.getText({ partial: [page] });
      texts.push({ page, text: result.pages[0]?.text ?? '' });
      post({ type: 'page', id, page, pages });
    }
    return { type: 'done', id, pages, texts };
  } catch (err) {
    return { type: 'failed', id, ...classifyPdfError(err) };
  } finally {
    await parser.destroy().catch(() => undefined);
  }
}

port.on('message', (request: PdfParseRequest) => {
  void parse(request).then(post);
});
post({ type: 'ready' });
