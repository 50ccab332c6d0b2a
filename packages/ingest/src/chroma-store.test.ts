import { describe, expect, it } from 'vitest';
import { ChromaStore } from './chroma-store.js';
import { toChunkMetadata } from './chunk-store.js';

describe('toChunkMetadata', () => {
  it('keeps scalars, drops what Chroma cannot store and JSON-encodes the rest under its key', () => {
    const metadata = toChunkMetadata({
      docId: 'guide.md',
      page: 3,
      ratio: 0.5,
      draft: false,
      empty: '',
      missing: undefined,
      nothing: null,
      nan: Number.NaN,
      infinite: Number.POSITIVE_INFINITY,
      big: 12345678901234567890n,
      when: new Date('2025-01-02T03:04:05.000Z'),
      tags: ['a', 'b'],
      owner: { team: 'sre', oncall: ['x'] },
      fn: () => 1,
      sym: Symbol('s'),
    });
    expect(metadata).toEqual({
      docId: 'guide.md',
      page: 3,
      ratio: 0.5,
      draft: false,
      empty: '',
      big: '12345678901234567890',
      when: '2025-01-02T03:04:05.000Z',
      tags: '["a","b"]',
      owner: '{"team":"sre","oncall":["x"]}',
    });
    expect(JSON.parse(metadata.tags as string)).toEqual(['a', 'b']);
  });
});

describe('ChromaStore options', () => {
  it('refuses a URL with a path, which chromadb 3.x would silently drop', () => {
    expect(() => new ChromaStore({ url: 'http://chroma:8000/prefix' })).toThrow(/must not have a path/);
    expect(() => new ChromaStore({ url: 'http://chroma:8000/' })).not.toThrow();
  });

  it('validates collection names before any request', async () => {
    const store = new ChromaStore({ url: 'http://127.0.0.1:9' });
    await expect(store.count('a..b')).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      details: { field: 'collection' },
    });
    await expect(store.collection('x')).rejects.toThrow(/3–512 characters/);
  });
});
