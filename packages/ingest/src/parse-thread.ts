/**
 * Entry point of a parse thread (`node:worker_threads`), started by the parse pool. It
 * takes one {@link ParseRequest} at a time and answers with {@link ParseMessage}s. pdf-parse is
 * loaded before the thread says it is ready, as it always was, so that a PDF parse starts as fast
 * as before; the DOCX and HTML parsers (about 45 MB and 300 ms together) are loaded on their first
 * use, after which the thread says `loaded`, so that the pool's memory guard measures the parse
 * from there and no parse pays for a module load. A parser may block this thread for as long as a
 * hostile file makes it; the main thread's timer and memory guard are what stop it, by
 * terminating the thread.
 *
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { ParseFailure, type ParseMessage, type ParseOutput, type ParseRequest } from './parse-protocol.js';
import { extractPdf } from './pdf-extract.js';

const port = parentPort;
if (!port) throw new Error('parse-thread must run in a worker thread');

function post(message: ParseMessage): void {
  port?.postMessage(message);
}

async function run(request: ParseRequest): Promise<ParseOutput> {
  switch (request.kind) {
    case 'pdf':
      return extractPdf(request.data, (page, pages) => post({ type: 'page', id: request.id, page, pages }));
    case 'docx': {
      const { extractDocx } = await import('./docx-extract.js');
      post({ type: 'loaded', id: request.id });
      return extractDocx(request.data, request.limits);
    }
    case 'html': {
      const { extractHtml } = await import('./html-extract.js');
      post({ type: 'loaded', id: request.id });
      return extractHtml(request.data);
    }
  }
}

async function parse(request: ParseRequest): Promise<ParseMessage> {
  try {
    return { type: 'done', id: request.id, ...(await run(request)) };
  } catch (err) {
    if (err instanceof ParseFailure)
      return { type: 'failed', id: request.id, code: err.code, message: err.message };
    // A parser's own bug or a document it chokes on: the document is what cannot be read.
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return {
      type: 'failed',
      id: request.id,
      code: 'INVALID_DOCUMENT',
      message: `the ${request.kind.toUpperCase()} could not be read (${message})`,
    };
  }
}

port.on('message', (request: ParseRequest) => {
  void parse(request).then(post);
});
post({ type: 'ready' });
