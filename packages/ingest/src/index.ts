/**
 * `@sluice/ingest`: the ingestion library. Loaders (PDF, DOCX and HTML in memory-capped threads,
 * text, Markdown), splitting, embedders, chunk IDs and plans, the pipeline over the {@link ChunkStore}
 * and {@link Embedder} seams, and the Chroma store. No queue, no HTTP server.
 */
export type { Chunk, DocumentSection, Embedder, LoadedDocument } from './types.js';
export { detectDocumentType } from './document-type.js';
export { loadPdf } from './pdf-loader.js';
export type { PdfLoadOptions } from './pdf-loader.js';
export { loadDocx } from './docx-loader.js';
export { loadHtml } from './html-loader.js';
export type { ParseLoadOptions } from './parse-options.js';
export { ParsePool } from './parse-pool.js';
export type { ParseInput, ParseJobOptions, ParsePoolOptions } from './parse-pool.js';
export type { ParseKind, ParseOutput } from './parse-protocol.js';
export { loadText } from './text-loader.js';
export { splitDocument, splitterSettings } from './splitter.js';
export type { SplitOptions } from './splitter.js';
export { HashEmbedder } from './hash-embedder.js';
export type { HashEmbedderOptions } from './hash-embedder.js';
export { OpenAiEmbedder } from './openai-embedder.js';
export type { OpenAiEmbedderOptions } from './openai-embedder.js';
export { createEmbedder } from './embedder.js';
export type { EmbedderExtras } from './embedder.js';
export { BatchingEmbedder } from './batching-embedder.js';
export type { BatchingEmbedderOptions } from './batching-embedder.js';
export { CachingEmbedder, cacheKey } from './caching-embedder.js';
export type { CacheOutcome } from './caching-embedder.js';
export { estimateTokens } from './embedding-limits.js';
export type { EmbeddingRateLimiter, EmbeddingRequestEvent, VectorCache } from './embedding-limits.js';
export { chunkId, ordinalsAmongEqual } from './chunk-id.js';
export type { ChunkIdInput } from './chunk-id.js';
export { toChunkMetadata } from './chunk-store.js';
export type { ChunkMetadata, ChunkRecord, ChunkScalar, ChunkStore, StoredChunk } from './chunk-store.js';
export { diffChunks, metadataDigest, planChunks } from './chunk-plan.js';
export type { ChunkDiff, DocumentPlan, PlannedChunk } from './chunk-plan.js';
export { ChromaStore } from './chroma-store.js';
export type {
  ChromaMatch,
  ChromaSpace,
  ChromaStoreOptions,
  StoredDocument,
  StoredRecord,
} from './chroma-store.js';
export { DocumentPlanner } from './document-planner.js';
export type { DocumentPlannerOptions, Planner, UploadReader } from './document-planner.js';
export { IngestPipeline } from './pipeline.js';
export type { IngestContext, IngestOutcome, IngestPipelineOptions } from './pipeline.js';
export { auditCollection, driftOf } from './collection-audit.js';
export type { AuditOptions } from './collection-audit.js';
