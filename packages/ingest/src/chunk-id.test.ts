import { describe, expect, it } from 'vitest';
import { chunkId, ordinalsAmongEqual } from './chunk-id.js';

describe('chunkId', () => {
  const chunk = {
    collection: 'runbooks',
    docId: 'guide.pdf',
    fingerprint: 'fp',
    text: 'Pods are the smallest unit.',
    ordinal: 0,
  };

  it('is pinned', () => {
    expect(chunkId(chunk)).toBe('chk-e0b4e76b8cfcc94abaad04ecd5258a1f93119da4');
  });

  it('tells equal texts in one document apart by ordinal', () => {
    expect(chunkId({ ...chunk, ordinal: 1 })).not.toBe(chunkId(chunk));
  });

  it('changes with the pipeline fingerprint, document and collection', () => {
    expect(chunkId({ ...chunk, fingerprint: 'fp2' })).not.toBe(chunkId(chunk));
    expect(chunkId({ ...chunk, docId: 'x' })).not.toBe(chunkId(chunk));
    expect(chunkId({ ...chunk, collection: 'x' })).not.toBe(chunkId(chunk));
  });
});

describe('ordinalsAmongEqual', () => {
  it('counts repeats of a text in order', () => {
    expect(ordinalsAmongEqual(['a', 'b', 'a', 'a', 'b', 'c'])).toEqual([0, 0, 1, 2, 1, 0]);
  });
});
