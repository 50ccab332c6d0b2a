/** ATX heading: up to three spaces, 1–6 `#`, then a space, a tab or the end of the line. */
const ATX_HEADING = /^ {0,3}(#{1,6})(?=[ \t]|$)(.*)$/;
/** Opening or closing code fence; indentation is not limited, since fences nest in list items. */
const FENCE = /^[ \t]*(`{3,}|~{3,})(.*)$/;

/**
 * The chain of Markdown ATX headings (`#` … `######`) in effect at each line of a text, for
 * `headingPath`. A heading replaces any heading at its level or deeper; lines inside fenced code
 * blocks (``` or ~~~) are never headings; setext (underlined) headings are not recognised.
 */
export class MarkdownHeadings {
  /** 1-based lines where the path changes, ascending, and the path from that line on. */
  readonly #lines: number[] = [];
  readonly #paths: string[] = [];

  constructor(markdown: string) {
    const stack: string[] = [];
    let fence: { char: string; length: number } | undefined;
    const lines = markdown.split('\n');
    for (let i = 0; i < lines.length; i += 1) {
      const line = lines[i] ?? '';
      const fenceMatch = FENCE.exec(line);
      if (fence) {
        if (
          fenceMatch?.[1]?.startsWith(fence.char) &&
          fenceMatch[1].length >= fence.length &&
          !fenceMatch[2]?.trim()
        ) {
          fence = undefined;
        }
        continue;
      }
      if (fenceMatch?.[1]) {
        // A backtick fence's info string may not contain a backtick (CommonMark); such a line is text.
        if (!(fenceMatch[1].startsWith('`') && fenceMatch[2]?.includes('`'))) {
          fence = { char: fenceMatch[1].charAt(0), length: fenceMatch[1].length };
        }
        continue;
      }
      const heading = ATX_HEADING.exec(line);
      if (!heading?.[1]) continue;
      const level = heading[1].length;
      stack.length = Math.min(stack.length, level - 1);
      while (stack.length < level - 1) stack.push('');
      stack.push(headingTitle(heading[2] ?? ''));
      this.#lines.push(i + 1);
      this.#paths.push(stack.filter((title) => title !== '').join(' > '));
    }
  }

  /** The heading path in effect at a 1-based line (a heading line counts as under itself); `''` before the first heading. */
  at(line: number): string {
    let lo = 0;
    let hi = this.#lines.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#lines[mid] ?? Infinity) <= line) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? '' : (this.#paths[found] ?? '');
  }
}

/** The title of an ATX heading: without its optional closing `#` sequence and attributes. */
function headingTitle(rest: string): string {
  let title = rest.trim();
  let end = title.length;
  while (end > 0 && title[end - 1] === '#') end -= 1;
  // A closing sequence is only one when a space or tab precedes it (`# C#` keeps its `#`).
  if (end < title.length && (end === 0 || title[end - 1] === ' ' || title[end - 1] === '\t')) {
    title = title.slice(0, end).trimEnd();
  }
  // Hugo/Pandoc attributes such as `{#pod-lifecycle}` are anchors, not part of the title.
  const open = title.lastIndexOf('{');
  if (title.endsWith('}') && open >= 0 && '#.'.includes(title.charAt(open + 1) || ' ')) {
    if (!title.slice(open, -1).includes('}')) title = title.slice(0, open).trimEnd();
  }
  return title;
}
