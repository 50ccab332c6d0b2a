import { readFileSync } from 'node:fs';
import { SluiceError } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { blankFrontMatter, loadText } from './text-loader.js';

const corpus = new URL('../../../test/corpus/', import.meta.url);
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function failure(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
  throw new Error('expected a SluiceError');
}

describe('loadText', () => {
  it('loads text as one section, dropping the BOM and normalising line breaks', () => {
    const doc = loadText(bytes('\uFEFFone\r\ntwo\rthree\n'), 'text');
    expect(doc).toEqual({ type: 'text', sections: [{ text: 'one\ntwo\nthree\n' }] });
  });

  it('blanks Markdown front matter but keeps every line where it was', () => {
    const source = '---\ntitle: Pods\nweight: 3\n---\n\n# Pods\nbody\n';
    const [section] = loadText(bytes(source), 'markdown').sections;
    expect(section?.text).toBe('\n\n\n\n\n# Pods\nbody\n');
    expect(section?.text.split('\n')).toHaveLength(source.split('\n').length);
  });

  it('keeps a text file as it is, front-matter-like lines included', () => {
    const source = '---\ntitle: x\n---\nbody';
    expect(loadText(bytes(source), 'text').sections[0]?.text).toBe(source);
  });

  it('keeps line numbers of a real Kubernetes page', () => {
    const raw = readFileSync(new URL('markdown/en/docs/concepts/workloads/pods/pod-lifecycle.md', corpus));
    const text = loadText(raw, 'markdown').sections[0]?.text ?? '';
    const original = raw.toString('utf8').split('\n');
    const loaded = text.split('\n');
    expect(loaded).toHaveLength(original.length);
    expect(loaded.slice(0, 5).every((line) => line === '')).toBe(true);
    expect(loaded[24]).toBe('## Pod lifetime');
    expect(original[24]).toBe('## Pod lifetime');
    expect(text).not.toContain('content_type: concept');
  });

  it.each([
    ['whitespace only', '  \n\t\r\n', 'text'],
    ['empty', '', 'text'],
    ['Markdown that is only front matter', '---\ntitle: x\n---\n\n', 'markdown'],
  ] as const)('fails %s with NO_TEXT', (_label, source, type) => {
    expect(failure(() => loadText(bytes(source), type)).code).toBe('NO_TEXT');
  });

  it('fails bytes that are not UTF-8 with INVALID_DOCUMENT', () => {
    expect(failure(() => loadText(Uint8Array.from([0x61, 0xff, 0x62]), 'text')).code).toBe(
      'INVALID_DOCUMENT',
    );
  });
});

describe('blankFrontMatter', () => {
  it.each([
    ['YAML closed by ...', '---\na: 1\n...\nbody', '\n\n\nbody'],
    ['TOML', '+++\na = 1\n+++\nbody', '\n\n\nbody'],
    ['empty front matter', '---\n---\nbody', '\n\nbody'],
    ['front matter at the end of the file', '---\na: 1\n---', '\n\n'],
    ['no closing delimiter: not front matter', '---\na: 1\nbody', '---\na: 1\nbody'],
    ['a rule later in the file: not front matter', 'intro\n---\na\n---\n', 'intro\n---\na\n---\n'],
    ['a longer dash line: not front matter', '----\na\n----\nb', '----\na\n----\nb'],
  ])('%s', (_label, source, expected) => {
    expect(blankFrontMatter(source)).toBe(expected);
  });
});
