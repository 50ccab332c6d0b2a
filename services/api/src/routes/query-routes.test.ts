import { describe, expect, it } from 'vitest';
import { toMatch } from './query-routes.js';

describe('toMatch', () => {
  it("answers Sluice's metadata as fields and only the caller's as metadata", () => {
    const match = toMatch({
      id: 'chk-1',
      text: 'some text',
      score: 0.75,
      metadata: {
        collection: 'docs',
        docId: 'a.pdf',
        contentHash: 'f'.repeat(64),
        source: 'a.pdf',
        page: 3,
        chunkIndex: 7,
        team: 'research',
        year: 2008,
      },
    });
    expect(match).toEqual({
      id: 'chk-1',
      text: 'some text',
      score: 0.75,
      docId: 'a.pdf',
      source: 'a.pdf',
      page: 3,
      metadata: { team: 'research', year: 2008 },
    });
  });

  it('leaves out the page of a text chunk', () => {
    const match = toMatch({
      id: 'c',
      text: 't',
      score: 1,
      metadata: { docId: 'n.md', source: 'n.md', lineStart: 1 },
    });
    expect(match).not.toHaveProperty('page');
    expect(match.metadata).toEqual({});
  });
});
