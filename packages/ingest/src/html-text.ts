/**
 * The part of a DOM node the renderer reads: linkedom's nodes (and any W3C DOM's) have it. Kept
 * structural, so that this module needs no DOM library.
 */
export interface DomNode {
  readonly nodeType: number;
  readonly nodeName: string;
  readonly childNodes: ArrayLike<DomNode>;
  readonly textContent: string | null;
  getAttribute?(name: string): string | null;
}

/** Options for {@link renderText}. */
export interface RenderTextOptions {
  /**
   * Read mammoth's footnotes, endnotes and comments: their references become `[^n]` (comment
   * references vanish), and each note is written as its own paragraph (`[^n]: …`, `Comment [x]:
   * …`) right after the top-level block that refers to it, instead of at the end of the document.
   * @defaultValue `false`
   */
  notes?: boolean;
}

const ELEMENT = 1;
const TEXT = 3;

/** Elements whose content is never text a reader sees: code, media, form controls, navigation. */
const SKIPPED = new Set([
  'SCRIPT',
  'STYLE',
  'NOSCRIPT',
  'TEMPLATE',
  'HEAD',
  'TITLE',
  'META',
  'LINK',
  'BASE',
  'SVG',
  'MATH',
  'IFRAME',
  'FRAME',
  'FRAMESET',
  'OBJECT',
  'EMBED',
  'CANVAS',
  'VIDEO',
  'AUDIO',
  'IMG',
  'PICTURE',
  'SOURCE',
  'TRACK',
  'MAP',
  'AREA',
  'BUTTON',
  'SELECT',
  'OPTION',
  'OPTGROUP',
  'INPUT',
  'TEXTAREA',
  'NAV',
  'DIALOG',
]);
/** Elements that start and end a block of text. */
const BLOCKS = new Set([
  'P',
  'DIV',
  'SECTION',
  'ARTICLE',
  'MAIN',
  'HEADER',
  'FOOTER',
  'ASIDE',
  'FIGURE',
  'FIGCAPTION',
  'ADDRESS',
  'DETAILS',
  'SUMMARY',
  'CENTER',
  'FIELDSET',
  'LEGEND',
  'FORM',
  'BODY',
  'HTML',
  'DL',
  'DT',
  'DD',
  'HGROUP',
  'CAPTION',
  'HR',
  'UL',
  'OL',
  'LI',
  'TABLE',
  'PRE',
  'BLOCKQUOTE',
  'H1',
  'H2',
  'H3',
  'H4',
  'H5',
  'H6',
  'TR',
  'TD',
  'TH',
  'THEAD',
  'TBODY',
  'TFOOT',
]);
const HEADING = /^H([1-6])$/;
const NOTE_REFERENCE = /^#(footnote|endnote)-(?!ref-)/;
const COMMENT_REFERENCE = /^#comment-(?!ref-)/;
const BACK_LINK = /^#(?:footnote|endnote|comment)-ref-/;
const NOTE_ID = /^(?:footnote|endnote|comment)-\d+$/;

/**
 * Renders a DOM subtree as plain text with Markdown-style structure, for the splitter: `#`
 * headings (so that chunks get a `headingPath`), paragraphs separated by blank lines, list items
 * as `- ` or `1. ` lines (indented two spaces per level), each table row as one line with its
 * cells between `|`, `<pre>` as a fenced block, block quotes as `> ` lines. Only the text of text
 * nodes is written, never a tag; scripts, styles, media, form controls, navigation and hidden
 * elements (`hidden`, `aria-hidden="true"`, `display: none`) are left out. A line that would read
 * as a heading or a code fence without being one is escaped with a backslash.
 */
export function renderText(root: DomNode, options: RenderTextOptions = {}): string {
  return new TextRenderer(root, options.notes ?? false).render();
}

class TextRenderer {
  readonly #root: DomNode;
  readonly #notes: boolean;
  /** Note and comment bodies by id, taken out of the flow (mammoth writes them at the end). */
  readonly #noteBodies = new Map<string, string>();
  readonly #blocks: string[] = [];
  /** Notes referred to by the top-level block being written. */
  #pending: string[] = [];
  readonly #written = new Set<string>();

  constructor(root: DomNode, notes: boolean) {
    this.#root = root;
    this.#notes = notes;
  }

  render(): string {
    if (this.#notes) this.#collectNotes(this.#root);
    for (const child of Array.from(this.#root.childNodes)) {
      this.#block(child, this.#blocks, 0);
      this.#flushNotes();
    }
    // Notes nothing refers to (a comment on deleted text) keep their text, at the end.
    for (const id of this.#noteBodies.keys()) this.#pending.push(id);
    this.#flushNotes();
    return this.#blocks.filter((block) => /\S/u.test(block)).join('\n\n');
  }

  /** Writes `node` as zero or more blocks into `out`. */
  #block(node: DomNode, out: string[], listDepth: number): void {
    if (node.nodeType === TEXT) {
      const text = collapse(node.textContent ?? '');
      if (text.trim()) out.push(escapeLines(text.trim()));
      return;
    }
    if (node.nodeType !== ELEMENT || this.#skipped(node)) return;
    const name = node.nodeName.toUpperCase();
    const heading = HEADING.exec(name);
    if (heading) {
      const title = this.#inline(node).replace(/\s+/g, ' ').trim();
      if (title) out.push(`${'#'.repeat(Number(heading[1]))} ${title}`);
      return;
    }
    switch (name) {
      case 'UL':
      case 'OL':
        out.push(this.#list(node, listDepth).join('\n'));
        return;
      case 'TABLE':
        out.push(this.#table(node).join('\n'));
        return;
      case 'PRE':
        out.push(fence(this.#preformatted(node)));
        return;
      case 'BLOCKQUOTE': {
        const inner: string[] = [];
        for (const child of Array.from(node.childNodes)) this.#block(child, inner, listDepth);
        const quoted = inner.filter((block) => /\S/u.test(block)).join('\n\n');
        if (quoted)
          out.push(
            quoted
              .split('\n')
              .map((line) => (line ? `> ${line}` : '>'))
              .join('\n'),
          );
        return;
      }
      case 'HR':
      case 'BR':
        return;
    }
    if (!this.#hasBlockChild(node)) {
      const text = this.#inline(node).trim();
      if (text) out.push(escapeLines(text));
      return;
    }
    // A container of blocks: loose inline runs between them become paragraphs of their own.
    let run = '';
    const flush = (): void => {
      if (run.trim()) out.push(escapeLines(run.trim()));
      run = '';
    };
    for (const child of Array.from(node.childNodes)) {
      if (child.nodeType === ELEMENT && BLOCKS.has(child.nodeName.toUpperCase()) && !this.#skipped(child)) {
        flush();
        this.#block(child, out, listDepth);
      } else {
        run += this.#inline(child);
      }
    }
    flush();
  }

  #list(list: DomNode, depth: number): string[] {
    const ordered = list.nodeName.toUpperCase() === 'OL';
    const lines: string[] = [];
    let number = Number(list.getAttribute?.('start') ?? '1') || 1;
    for (const item of Array.from(list.childNodes)) {
      if (item.nodeType !== ELEMENT || this.#skipped(item)) continue;
      const name = item.nodeName.toUpperCase();
      if (name === 'UL' || name === 'OL') {
        lines.push(...this.#list(item, depth + 1));
        continue;
      }
      let text = '';
      const nested: string[] = [];
      for (const child of Array.from(item.childNodes)) {
        const childName = child.nodeType === ELEMENT ? child.nodeName.toUpperCase() : '';
        if (childName === 'UL' || childName === 'OL') {
          if (!this.#skipped(child)) nested.push(...this.#list(child, depth + 1));
        } else if (childName === 'TABLE') {
          nested.push(...this.#table(child).map((row) => `${'  '.repeat(depth + 1)}${row}`));
        } else {
          text += this.#inline(child);
        }
      }
      const marker = ordered ? `${number}.` : '-';
      number += 1;
      const line = text.replace(/\s+/g, ' ').trim();
      if (line || nested.length === 0) lines.push(`${'  '.repeat(depth)}${marker} ${line}`.trimEnd());
      lines.push(...nested);
    }
    return lines.filter((line) => /\S/u.test(line.replace(/^\s*(?:-|\d+\.)\s*$/, '')));
  }

  #table(table: DomNode): string[] {
    const lines: string[] = [];
    const visit = (node: DomNode): void => {
      for (const child of Array.from(node.childNodes)) {
        if (child.nodeType !== ELEMENT || this.#skipped(child)) continue;
        const name = child.nodeName.toUpperCase();
        if (name === 'TR') {
          const cells = Array.from(child.childNodes).filter(
            (cell) =>
              cell.nodeType === ELEMENT &&
              /^T[DH]$/.test(cell.nodeName.toUpperCase()) &&
              !this.#skipped(cell),
          );
          const texts = cells.map((cell) =>
            this.#inline(cell).replace(/\s+/g, ' ').trim().replaceAll('|', '\\|'),
          );
          if (texts.some((text) => text !== '')) lines.push(`| ${texts.join(' | ')} |`);
        } else if (name === 'CAPTION') {
          const caption = this.#inline(child).replace(/\s+/g, ' ').trim();
          if (caption) lines.push(escapeLines(caption));
        } else if (name === 'THEAD' || name === 'TBODY' || name === 'TFOOT') {
          visit(child);
        }
      }
    };
    visit(table);
    return lines;
  }

  /** The text of an inline run: whitespace collapsed, `<br>` as a line break, blocks inside it set apart by spaces. */
  #inline(node: DomNode): string {
    if (node.nodeType === TEXT) return collapse(node.textContent ?? '');
    if (node.nodeType !== ELEMENT || this.#skipped(node)) return '';
    const name = node.nodeName.toUpperCase();
    if (name === 'BR') return '\n';
    if (this.#notes && name === 'A') {
      const href = node.getAttribute?.('href') ?? '';
      if (BACK_LINK.test(href)) return '';
      if (NOTE_REFERENCE.test(href)) {
        this.#refer(href.slice(1));
        return `[^${(node.textContent ?? '').replace(/[[\]\s]/g, '')}]`;
      }
      if (COMMENT_REFERENCE.test(href)) {
        this.#refer(href.slice(1));
        return '';
      }
    }
    const parts = Array.from(node.childNodes).map((child) => this.#inline(child));
    const text = parts.join('');
    if (name === 'PRE') return ` ${this.#preformatted(node)} `;
    return BLOCKS.has(name) ? ` ${text} ` : text;
  }

  /** The text of preformatted content as it stands: white space kept, `<br>` as a line break. */
  #preformatted(node: DomNode): string {
    if (node.nodeType === TEXT) return node.textContent ?? '';
    if (node.nodeType !== ELEMENT || this.#skipped(node)) return '';
    if (node.nodeName.toUpperCase() === 'BR') return '\n';
    return Array.from(node.childNodes, (child) => this.#preformatted(child)).join('');
  }

  #refer(id: string): void {
    if (this.#noteBodies.has(id) && !this.#pending.includes(id)) this.#pending.push(id);
  }

  #flushNotes(): void {
    const pending = this.#pending;
    this.#pending = [];
    for (const id of pending) {
      if (this.#written.has(id)) continue;
      this.#written.add(id);
      const body = this.#noteBodies.get(id);
      this.#noteBodies.delete(id);
      if (body) this.#blocks.push(escapeLines(body));
    }
  }

  /** Takes mammoth's note and comment definitions (`li#footnote-1`, `dt#comment-0` + `dd`) out of the flow. */
  #collectNotes(node: DomNode): void {
    const children = Array.from(node.childNodes);
    children.forEach((child, i) => {
      if (child.nodeType !== ELEMENT) return;
      const id = child.getAttribute?.('id') ?? '';
      const name = child.nodeName.toUpperCase();
      if (name === 'LI' && NOTE_ID.test(id)) {
        const label = /^(?:footnote|endnote)/.test(id) ? this.#noteLabel(id) : id;
        this.#noteBodies.set(id, `[^${label}]: ${this.#inline(child).replace(/\s+/g, ' ').trim()}`);
        this.#hidden.add(child);
      } else if (name === 'DT' && NOTE_ID.test(id)) {
        const dd = children.slice(i + 1).find((next) => next.nodeType === ELEMENT);
        const label = this.#inline(child).replace(/\s+/g, ' ').trim();
        const body =
          dd && dd.nodeName.toUpperCase() === 'DD' ? this.#inline(dd).replace(/\s+/g, ' ').trim() : '';
        this.#noteBodies.set(id, `${label}: ${body}`);
        this.#hidden.add(child);
        if (dd) this.#hidden.add(dd);
      } else {
        this.#collectNotes(child);
      }
    });
  }

  /** The label a reference to note `id` shows (`[1]` → `1`), read from the reference itself. */
  #noteLabel(id: string): string {
    return this.#labels().get(id) ?? id.replace(/^\D+/, '');
  }

  #labelCache: Map<string, string> | undefined;
  #labels(): Map<string, string> {
    if (this.#labelCache) return this.#labelCache;
    const labels = new Map<string, string>();
    const visit = (node: DomNode): void => {
      if (node.nodeType !== ELEMENT) return;
      const href = node.nodeName.toUpperCase() === 'A' ? (node.getAttribute?.('href') ?? '') : '';
      if (NOTE_REFERENCE.test(href))
        labels.set(href.slice(1), (node.textContent ?? '').replace(/[[\]\s]/g, ''));
      for (const child of Array.from(node.childNodes)) visit(child);
    };
    visit(this.#root);
    this.#labelCache = labels;
    return labels;
  }

  readonly #hidden = new Set<DomNode>();

  #skipped(node: DomNode): boolean {
    if (this.#hidden.has(node)) return true;
    if (SKIPPED.has(node.nodeName.toUpperCase())) return true;
    const attribute = (name: string): string | null => node.getAttribute?.(name) ?? null;
    if (attribute('hidden') !== null) return true;
    if (attribute('aria-hidden') === 'true') return true;
    if (attribute('role') === 'navigation') return true;
    const style = attribute('style');
    return style !== null && /(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)/i.test(style);
  }

  #hasBlockChild(node: DomNode): boolean {
    return Array.from(node.childNodes).some(
      (child) =>
        child.nodeType === ELEMENT && BLOCKS.has(child.nodeName.toUpperCase()) && !this.#skipped(child),
    );
  }
}

/** HTML's white-space collapsing: runs of spaces, tabs and line breaks become one space; no-break spaces stay spaces. */
function collapse(text: string): string {
  return text.replace(/[ \t\n\r\f\u00a0]+/g, ' ');
}

/**
 * Trims each line and escapes the ones the splitter's Markdown rules would misread: an ATX
 * heading (`# …`, escaped as `\# …`) or a code fence (```` ``` ```` as ``\`\`\` ``, `~~~`) that the
 * document only contains as text.
 */
function escapeLines(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line, i, lines) => line !== '' || (i > 0 && lines[i - 1] !== ''))
    .map((line) =>
      line.startsWith('#')
        ? `\\${line}`
        : // Each mark escaped: the splitter also cuts at a run of three backticks.
          line.replace(/^(?:`{3,}|~{3,})/, (marks) => marks.replace(/./g, '\\$&')),
    )
    .join('\n')
    .trim();
}

/** A fenced code block whose fence is longer than any backtick run inside it. */
function fence(code: string): string {
  const body = code.replace(/\r\n?/g, '\n').replace(/^\n+|\s+$/g, '');
  if (!body) return '';
  const longest = Math.max(2, ...Array.from(body.matchAll(/`+/g), (match) => match[0].length));
  const marks = '`'.repeat(longest + 1);
  return `${marks}\n${body}\n${marks}`;
}
