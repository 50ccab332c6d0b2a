import type { WorkerConfig } from '@sluice/core';
import { BatchingEmbedder } from './batching-embedder.js';
import { CachingEmbedder, type CacheOutcome } from './caching-embedder.js';
import {
  maxRequestTokens,
  type EmbeddingRateLimiter,
  type EmbeddingRequestEvent,
  type VectorCache,
} from './embedding-limits.js';
import { HashEmbedder } from './hash-embedder.js';
import { OpenAiEmbedder } from './openai-embedder.js';
import type { Embedder } from './types.js';

/** The embedding settings of a process's configuration. */
export type EmbedderConfig = Pick<
  WorkerConfig,
  | 'EMBEDDINGS'
  | 'EMBEDDINGS_URL'
  | 'EMBEDDINGS_MODEL'
  | 'EMBEDDINGS_API_KEY'
  | 'EMBEDDINGS_DIMENSIONS'
  | 'EMBEDDINGS_BATCH_SIZE'
  | 'EMBEDDINGS_BATCH_TOKENS'
  | 'EMBEDDINGS_CONCURRENCY'
  | 'EMBEDDINGS_TPM'
>;

/** What a process that talks to an endpoint adds to the configuration: shared limits, a cache, metrics. */
export interface EmbedderExtras {
  /** The endpoint's limits, shared by the fleet (`EMBEDDINGS_RPM`/`EMBEDDINGS_TPM`, 429 hold-offs). */
  rateLimiter?: EmbeddingRateLimiter | undefined;
  /** Vectors already paid for (`EMBEDDINGS_CACHE_MB` > 0). */
  cache?: VectorCache | undefined;
  onRequest?: (event: EmbeddingRequestEvent) => void;
  onCache?: (outcome: CacheOutcome) => void;
  onCacheError?: (err: unknown) => void;
}

/**
 * The embedder a configuration names (`EMBEDDINGS`), shared by the worker and the API's queries.
 * An endpoint (`openai`) is called through the cache (when given), then in requests shared by the
 * process's concurrent callers, within the fleet's rate limits. The hash embedder runs in process:
 * nothing to share or limit.
 */
export function createEmbedder(config: EmbedderConfig, extras: EmbedderExtras = {}): Embedder {
  switch (config.EMBEDDINGS) {
    case 'hash':
      return new HashEmbedder({ dimensions: config.EMBEDDINGS_DIMENSIONS });
    case 'openai': {
      // The config schema requires both when EMBEDDINGS=openai.
      const endpoint = new OpenAiEmbedder({
        baseUrl: config.EMBEDDINGS_URL!,
        model: config.EMBEDDINGS_MODEL!,
        ...(config.EMBEDDINGS_API_KEY ? { apiKey: config.EMBEDDINGS_API_KEY } : {}),
        // The batcher forms the requests; the endpoint client sends each as it is.
        batchSize: config.EMBEDDINGS_BATCH_SIZE,
        ...(extras.rateLimiter ? { rateLimiter: extras.rateLimiter } : {}),
        ...(extras.onRequest ? { onRequest: extras.onRequest } : {}),
      });
      const batched = new BatchingEmbedder(endpoint, {
        maxInputs: config.EMBEDDINGS_BATCH_SIZE,
        // Small enough for the fleet's limiter to keep within a provider's short windows.
        maxTokens: maxRequestTokens(config.EMBEDDINGS_TPM, config.EMBEDDINGS_BATCH_TOKENS),
        concurrency: config.EMBEDDINGS_CONCURRENCY,
      });
      if (!extras.cache) return batched;
      return new CachingEmbedder(batched, extras.cache, {
        ...(extras.onCache ? { onOutcome: extras.onCache } : {}),
        ...(extras.onCacheError ? { onError: extras.onCacheError } : {}),
      });
    }
  }
}
