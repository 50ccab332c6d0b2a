import { describe, expect, it } from 'vitest';
import { CachingEmbedder, cacheKey, type CacheOutcome } from './caching-embedder.js';
import type { VectorCache } from './embedding-limits.js';
import { HashEmbedder } from './hash-embedder.js';
import type { Embedder } from './types.js';

/** A cache in a Map (the Redis one has its own integration test), that can be made to fail. */
class MapCache implements VectorCache {
  readonly entries = new Map<string, number[]>();
  failing = false;
  getMany(keys: readonly string[]): Promise<(number[] | undefined)[]> {
    if (this.failing) return Promise.reject(new Error('cache down'));
    return Promise.resolve(keys.map((k) => this.entries.get(k)));
  }
  setMany(entries: readonly { key: string; vector: readonly number[] }[]): Promise<void> {
    if (this.failing) return Promise.reject(new Error('cache down'));
    for (const { key, vector } of entries) this.entries.set(key, [...vector]);
    return Promise.resolve();
  }
}

/** The real hash embedder, counting the texts it is asked to embed. */
class CountingEmbedder implements Embedder {
  readonly inner: HashEmbedder;
  readonly id: string;
  readonly dimensions: number;
  embedded: string[] = [];
  constructor(dimensions = 16) {
    this.inner = new HashEmbedder({ dimensions });
    this.id = this.inner.id;
    this.dimensions = dimensions;
  }
  embed(texts: readonly string[]): Promise<number[][]> {
    this.embedded.push(...texts);
    return this.inner.embed(texts);
  }
}

describe('CachingEmbedder', () => {
  it('embeds a text once: the same text again, in any call, comes from the cache', async () => {
    const cache = new MapCache();
    const endpoint = new CountingEmbedder();
    const outcomes: CacheOutcome[] = [];
    const embedder = new CachingEmbedder(endpoint, cache, { onOutcome: (o) => outcomes.push(o) });
    const first = await embedder.embed(['a', 'b', 'c']);
    const second = await embedder.embed(['b', 'd', 'a']);
    expect(endpoint.embedded).toEqual(['a', 'b', 'c', 'd']);
    expect(second).toEqual([first[1], await endpoint.inner.embed(['d']).then((v) => v[0]), first[0]]);
    expect(outcomes).toEqual([
      { hits: 0, misses: 3 },
      { hits: 2, misses: 1 },
    ]);
  });

  it('stores what it embeds before the endpoint has told its vector length, under the length it gave', async () => {
    // As OpenAiEmbedder: dimensions 0 until its first answer.
    class Learning implements Embedder {
      readonly counting = new CountingEmbedder(16);
      readonly id = this.counting.id;
      #known = false;
      get dimensions(): number {
        return this.#known ? 16 : 0;
      }
      async embed(texts: readonly string[]): Promise<number[][]> {
        const vectors = await this.counting.embed(texts);
        this.#known = true;
        return vectors;
      }
    }
    const cache = new MapCache();
    const endpoint = new Learning();
    const outcomes: CacheOutcome[] = [];
    const embedder = new CachingEmbedder(endpoint, cache, { onOutcome: (o) => outcomes.push(o) });
    // Two callers at once, both before the first answer.
    const [first] = await Promise.all([embedder.embed(['a', 'b']), embedder.embed(['c'])]);
    expect(cache.entries.has(cacheKey(endpoint.id, 16, 'a'))).toBe(true);
    expect(await embedder.embed(['c', 'a'])).toEqual([
      (await endpoint.counting.inner.embed(['c']))[0],
      first[0],
    ]);
    expect(endpoint.counting.embedded.sort()).toEqual(['a', 'b', 'c']);
    expect(outcomes.at(-1)).toEqual({ hits: 2, misses: 0 });
  });

  it('never reads a vector of another model or length', async () => {
    const cache = new MapCache();
    await new CachingEmbedder(new CountingEmbedder(16), cache).embed(['a']);
    const other = new CountingEmbedder(32);
    const vectors = await new CachingEmbedder(other, cache).embed(['a']);
    expect(other.embedded).toEqual(['a']);
    expect(vectors[0]).toHaveLength(32);
    expect(cacheKey('m', 16, 'a')).not.toBe(cacheKey('m', 32, 'a'));
    expect(cacheKey('m', 16, 'a')).not.toBe(cacheKey('n', 16, 'a'));
  });

  it('embeds without the cache when the cache fails, and says so', async () => {
    const cache = new MapCache();
    cache.failing = true;
    const errors: unknown[] = [];
    const endpoint = new CountingEmbedder();
    const embedder = new CachingEmbedder(endpoint, cache, { onError: (err) => errors.push(err) });
    expect(await embedder.embed(['a', 'b'])).toEqual(await endpoint.inner.embed(['a', 'b']));
    expect(errors).toHaveLength(2);
  });
});
