import { isUtf8 } from 'node:buffer';
import { Readability, isProbablyReaderable } from '@mozilla/readability';
import { getEncoding } from 'encoding-sniffer';
import { parseHTML } from 'linkedom';
import { renderText, type DomNode } from './html-text.js';
import type { ParseOutput } from './parse-protocol.js';

/** The part of a linkedom document this module reads. */
interface HtmlDocument extends DomNode {
  readonly title: string;
  readonly body: DomNode | null;
  readonly documentElement: DomNode | null;
}

/**
 * Extracts the main content of an HTML page in a parse thread (see `loadHtml`): decodes the bytes
 * as a browser would, parses them with linkedom, and keeps what Readability takes for the article,
 * or all visible text when the page is not an article. Returns one section, starting with the
 * title as a `#` heading, or none when the page has no visible text.
 */
export function extractHtml(data: ArrayBuffer): ParseOutput {
  const html = decodeHtml(new Uint8Array(data));
  const article = readArticle(html);
  const fallback = article ?? wholePage(html);
  const title = fallback.title.replace(/\s+/g, ' ').trim();
  if (!/\S/u.test(fallback.text)) return { sections: [], ...(title ? { title } : {}) };
  // A page's own top heading often repeats its title; it then stands for it.
  const repeated = fallback.text.split('\n').includes(`# ${title}`);
  const text = title && !repeated ? `# ${title}\n\n${fallback.text}` : fallback.text;
  return { sections: [{ text }], ...(title ? { title } : {}) };
}

/**
 * The page as text, decoded the way the HTML standard's encoding sniffing does it: a byte-order
 * mark, else the charset the page declares in its first 1024 bytes (`<meta charset>`,
 * `http-equiv="Content-Type"`, an XML declaration); else UTF-8 when the bytes are valid UTF-8
 * (today's pages without a declaration are), else windows-1252 (the standard's default).
 */
export function decodeHtml(bytes: Uint8Array): string {
  const encoding = getEncoding(bytes, { defaultEncoding: isUtf8(bytes) ? 'UTF-8' : 'windows-1252' });
  try {
    return new TextDecoder(encoding).decode(bytes);
  } catch {
    // A label this Node's ICU does not know (or `replacement`): decode as the default would.
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

function parse(html: string): HtmlDocument {
  return (parseHTML(html) as unknown as { document: HtmlDocument }).document;
}

/** What Readability takes for the article, or `undefined` when the page is not one. */
function readArticle(html: string): { title: string; text: string } | undefined {
  const document = parse(html);
  if (!isProbablyReaderable(document)) return undefined;
  const article = new Readability<DomNode>(document, {
    serializer: (node) => node as DomNode,
  }).parse();
  if (!article?.content || !/\S/u.test(article.textContent ?? '')) return undefined;
  return { title: article.title ?? '', text: renderText(article.content) };
}

/** All the visible text of the page's body (scripts, styles, navigation and hidden elements left out). */
function wholePage(html: string): { title: string; text: string } {
  const document = parse(html);
  const root = document.body ?? document.documentElement;
  return { title: document.title, text: root ? renderText(root) : '' };
}
