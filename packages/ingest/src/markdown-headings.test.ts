import { describe, expect, it } from 'vitest';
import { MarkdownHeadings } from './markdown-headings.js';

const doc = [
  'intro', // 1
  '# Guide', // 2
  'text', // 3
  '## Install ##', // 4
  '```sh', // 5
  '# not a heading', // 6
  '```', // 7
  '### Linux {#linux}', // 8
  '~~~~', // 9
  '## still code', // 10
  '~~~', // 11
  '~~~~', // 12
  '## Configure', // 13
  '#### Deep, skipping a level', // 14
  '#hashtag is not a heading', // 15
  '    # indented four spaces is code', // 16
  '   ## Three spaces is a heading', // 17
  '1. step', // 18
  '', // 19
  '       ```yaml', // 20
  '# comment in a fence nested in a list', // 21
  '       ```', // 22
  '# C#', // 23
  '## ', // 24
  'after an empty heading', // 25
].join('\n');

describe('MarkdownHeadings', () => {
  const headings = new MarkdownHeadings(doc);

  it.each([
    [1, ''],
    [2, 'Guide'],
    [3, 'Guide'],
    [4, 'Guide > Install'],
    [6, 'Guide > Install'],
    [8, 'Guide > Install > Linux'],
    [10, 'Guide > Install > Linux'],
    [13, 'Guide > Configure'],
    [14, 'Guide > Configure > Deep, skipping a level'],
    [15, 'Guide > Configure > Deep, skipping a level'],
    [16, 'Guide > Configure > Deep, skipping a level'],
    [17, 'Guide > Three spaces is a heading'],
    [21, 'Guide > Three spaces is a heading'],
    [23, 'C#'],
    [25, 'C#'],
  ])('line %i is under "%s"', (line, path) => {
    expect(headings.at(line)).toBe(path);
  });

  it('gives the last path past the end and nothing before the first heading', () => {
    expect(headings.at(10_000)).toBe('C#');
    expect(new MarkdownHeadings('no headings\nat all').at(2)).toBe('');
  });

  it('never ends a fence on a shorter or different fence', () => {
    const h = new MarkdownHeadings(['````', '```', '# inside', '````', '# Outside'].join('\n'));
    expect(h.at(3)).toBe('');
    expect(h.at(5)).toBe('Outside');
  });

  it('treats an unclosed fence as code to the end', () => {
    expect(new MarkdownHeadings('```\n# inside').at(2)).toBe('');
  });
});
