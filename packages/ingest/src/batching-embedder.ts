import { estimateTokens } from './embedding-limits.js';
import { GroupCommit } from './group-commit.js';
import type { Embedder } from './types.js';

/** Options for {@link BatchingEmbedder}. */
export interface BatchingEmbedderOptions {
  /** Most texts in one request. */
  maxInputs: number;
  /** Most estimated tokens ({@link estimateTokens}) in one request. */
  maxTokens: number;
  /** Requests in flight at once. @defaultValue 1 */
  concurrency?: number;
}

/** One caller's share of a request: its texts and their estimated tokens. */
interface Slice {
  readonly texts: readonly string[];
  readonly tokens: number;
}

/**
 * Shares embeddings requests between concurrent callers (the jobs of one worker), as the store's
 * write coalescer shares upserts: texts that arrive while `concurrency` requests are in flight go
 * together in the next one, up to `maxInputs` texts and `maxTokens` tokens. A request's cost is
 * mostly per request (latency, the endpoint's requests-per-minute limit), so fewer, fuller
 * requests are faster and use a rate limit better.
 *
 * Guarantees:
 * - each caller resolves with exactly its own vectors, in its order;
 * - a caller whose signal aborts stops waiting at once, whether its texts wait or are in a
 *   request; a request runs on while another caller still needs it, and is cancelled when none
 *   does;
 * - a call larger than one request is split, and its parts share requests like any other;
 * - `id` and `dimensions` are the inner embedder's: batching changes no vector.
 */
export class BatchingEmbedder implements Embedder {
  readonly #inner: Embedder;
  readonly #o: Required<BatchingEmbedderOptions>;
  readonly #requests: GroupCommit<Slice, number[][]>;

  constructor(inner: Embedder, options: BatchingEmbedderOptions) {
    this.#inner = inner;
    this.#o = { concurrency: 1, ...options };
    for (const [name, value] of Object.entries(this.#o)) {
      if (!Number.isInteger(value) || value < 1)
        throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
    this.#requests = new GroupCommit<Slice, number[][]>({
      concurrency: this.#o.concurrency,
      groupSize: (waiting) => {
        let inputs = 0;
        let tokens = 0;
        let size = 0;
        for (const slice of waiting) {
          inputs += slice.texts.length;
          tokens += slice.tokens;
          if (size > 0 && (inputs > this.#o.maxInputs || tokens > this.#o.maxTokens)) break;
          size += 1;
        }
        return size;
      },
      flush: async (group) => {
        // The request is cancelled once no caller in it still waits for it.
        const request = new AbortController();
        const waiting = new Set(group.filter((p) => !p.signal?.aborted));
        const onAbort = (pending: (typeof group)[number]) => () => {
          waiting.delete(pending);
          if (waiting.size === 0) request.abort(pending.signal?.reason);
        };
        const listeners = group.map((pending) => {
          const listener = onAbort(pending);
          pending.signal?.addEventListener('abort', listener, { once: true });
          return () => pending.signal?.removeEventListener('abort', listener);
        });
        try {
          if (waiting.size === 0) return;
          const vectors = await this.#inner.embed(
            group.flatMap((p) => p.input.texts),
            request.signal,
          );
          let at = 0;
          for (const pending of group) {
            const count = pending.input.texts.length;
            pending.resolve(vectors.slice(at, at + count));
            at += count;
          }
        } finally {
          for (const remove of listeners) remove();
        }
      },
    });
  }

  get id(): string {
    return this.#inner.id;
  }

  get dimensions(): number {
    return this.#inner.dimensions;
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    signal?.throwIfAborted();
    const parts = await Promise.all(this.#slices(texts).map((slice) => this.#requests.submit(slice, signal)));
    return parts.flat();
  }

  /** The texts in slices that each fit one request. */
  #slices(texts: readonly string[]): Slice[] {
    const slices: Slice[] = [];
    let current: string[] = [];
    let tokens = 0;
    for (const text of texts) {
      const cost = estimateTokens(text);
      if (current.length > 0 && (current.length >= this.#o.maxInputs || tokens + cost > this.#o.maxTokens)) {
        slices.push({ texts: current, tokens });
        current = [];
        tokens = 0;
      }
      current.push(text);
      tokens += cost;
    }
    if (current.length > 0) slices.push({ texts: current, tokens });
    return slices;
  }
}
