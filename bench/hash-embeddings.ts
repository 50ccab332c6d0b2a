import { Embeddings } from '@langchain/core/embeddings';
import type { HashEmbedder } from '@sluice/ingest';

/**
 * Sluice's {@link HashEmbedder} as a LangChain `Embeddings`, so that LangChain's `index()` embeds
 * exactly as Sluice does. Counts the texts it embeds (what LangChain re-embeds is part of the
 * comparison).
 */
export class HashEmbeddings extends Embeddings {
  /** Texts embedded so far through {@link HashEmbeddings.embedDocuments}. */
  embedded = 0;
  readonly #embedder: HashEmbedder;

  constructor(embedder: HashEmbedder) {
    super({});
    this.#embedder = embedder;
  }

  /** One vector per text, in order. */
  override async embedDocuments(texts: string[]): Promise<number[][]> {
    this.embedded += texts.length;
    return this.#embedder.embed(texts);
  }

  /** The vector of one query text. */
  override async embedQuery(text: string): Promise<number[]> {
    return this.#embedder.embedOne(text);
  }
}
