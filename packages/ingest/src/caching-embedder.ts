import { createHash } from 'node:crypto';
import type { VectorCache } from './embedding-limits.js';
import type { Embedder } from './types.js';

/** What a {@link CachingEmbedder} did, for metrics. */
export interface CacheOutcome {
  hits: number;
  misses: number;
}

/**
 * Looks texts up in a shared vector cache before embedding them, and stores what it embedded:
 * the same text in another document or collection, or again after a change of chunking only, is
 * not paid for twice. Keys are the inner embedder's `id` and `dimensions` and the text's sha256,
 * so a change of model or vector length never reads an old vector.
 *
 * The cache is an optimisation and never a source of failure: a cache that cannot be read counts
 * as all misses, one that cannot be written is skipped (`onError` hears of both).
 */
export class CachingEmbedder implements Embedder {
  readonly #inner: Embedder;
  readonly #cache: VectorCache;
  readonly #onOutcome: ((outcome: CacheOutcome) => void) | undefined;
  readonly #onError: ((err: unknown) => void) | undefined;

  constructor(
    inner: Embedder,
    cache: VectorCache,
    hooks: { onOutcome?: (outcome: CacheOutcome) => void; onError?: (err: unknown) => void } = {},
  ) {
    this.#inner = inner;
    this.#cache = cache;
    this.#onOutcome = hooks.onOutcome;
    this.#onError = hooks.onError;
  }

  get id(): string {
    return this.#inner.id;
  }

  get dimensions(): number {
    return this.#inner.dimensions;
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    if (texts.length === 0) return [];
    // Before an endpoint's first answer its vector length, part of every key, is unknown: nothing
    // can be looked up, but what comes back is stored under the length it has. (Every job that a
    // worker starts before its first answer arrives is in this case, not only the first.)
    const dimensions = this.#inner.dimensions;
    if (dimensions === 0) {
      const vectors = await this.#inner.embed(texts, signal);
      this.#onOutcome?.({ hits: 0, misses: texts.length });
      const learned = vectors[0]?.length ?? 0;
      if (learned > 0) {
        await this.#cache
          .setMany(
            texts.map((text, i) => ({ key: cacheKey(this.#inner.id, learned, text), vector: vectors[i]! })),
          )
          .catch((err: unknown) => this.#onError?.(err));
      }
      return vectors;
    }
    const keys = texts.map((text) => cacheKey(this.#inner.id, dimensions, text));
    const found = await this.#cache.getMany(keys).catch((err: unknown) => {
      this.#onError?.(err);
      return keys.map(() => undefined);
    });
    signal?.throwIfAborted();
    const vectors: (number[] | undefined)[] = found.map((v) => (v?.length === dimensions ? v : undefined));
    const missing = vectors.flatMap((v, i) => (v === undefined ? [i] : []));
    this.#onOutcome?.({ hits: texts.length - missing.length, misses: missing.length });
    if (missing.length > 0) {
      const embedded = await this.#inner.embed(
        missing.map((i) => texts[i]!),
        signal,
      );
      missing.forEach((i, n) => (vectors[i] = embedded[n]));
      await this.#cache
        .setMany(missing.map((i, n) => ({ key: keys[i]!, vector: embedded[n]! })))
        .catch((err: unknown) => this.#onError?.(err));
    }
    return vectors as number[][];
  }
}

/** The cache key of one text's vector: model, vector length and the text's sha256. */
export function cacheKey(embedderId: string, dimensions: number, text: string): string {
  return `${embedderId}:${dimensions}:${createHash('sha256').update(text).digest('hex')}`;
}
