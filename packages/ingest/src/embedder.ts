import type { WorkerConfig } from '@sluice/core';
import { HashEmbedder } from './hash-embedder.js';
import { OpenAiEmbedder } from './openai-embedder.js';
import type { Embedder } from './types.js';

/** The embedding settings of a process's configuration. */
export type EmbedderConfig = Pick<
  WorkerConfig,
  'EMBEDDINGS' | 'EMBEDDINGS_URL' | 'EMBEDDINGS_MODEL' | 'EMBEDDINGS_API_KEY' | 'EMBEDDINGS_DIMENSIONS'
>;

/** The embedder a configuration names (`EMBEDDINGS`), shared by the worker and the API's queries. */
export function createEmbedder(config: EmbedderConfig): Embedder {
  switch (config.EMBEDDINGS) {
    case 'hash':
      return new HashEmbedder({ dimensions: config.EMBEDDINGS_DIMENSIONS });
    case 'openai':
      // The config schema requires both when EMBEDDINGS=openai.
      return new OpenAiEmbedder({
        baseUrl: config.EMBEDDINGS_URL!,
        model: config.EMBEDDINGS_MODEL!,
        ...(config.EMBEDDINGS_API_KEY ? { apiKey: config.EMBEDDINGS_API_KEY } : {}),
      });
  }
}
