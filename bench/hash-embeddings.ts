import { Embeddings } from '@langchain/core/embeddings';
import type { HashEmbedder } from '@sluice/ingest';

/**
 * Sluice's {@link HashEmbedder} as a LangChain `Embeddings`, so that LangChain's `index()` embeds
 * exactly as Sluice does.
 */
export class HashEmbeddings extends Embeddings {
  readonly #embedder: HashEmbedder;

  constructor(embedder: HashEmbedder) {
    super({});
    this.#embedder = embedder;
  }

  /** One vector per text, in order. */
  override async embedDocuments(texts: string[]): Promise<number[][]> {
    return this.#embedder.embed(texts);
  }

  /** The vector of one query text. */
  override async embedQuery(text: string): Promise<number[]> {
    return this.#embedder.embedOne(text);
  }
}
