export type { Chunk, DocumentSection, DocumentType, Embedder, LoadedDocument } from './types.js';
export { SUPPORTED_EXTENSIONS, detectDocumentType } from './document-type.js';
export type { SupportedExtension } from './document-type.js';
export { closePdfLoader, loadPdf } from './pdf-loader.js';
export type { PdfLoadOptions } from './pdf-loader.js';
export { loadText } from './text-loader.js';
export { splitDocument, splitterSettings } from './splitter.js';
export type { SplitOptions } from './splitter.js';
export { HashEmbedder } from './hash-embedder.js';
export type { HashEmbedderOptions } from './hash-embedder.js';
export { OpenAiEmbedder } from './openai-embedder.js';
export type { OpenAiEmbedderOptions } from './openai-embedder.js';
export { ChromaStore, toChromaMetadata } from './chroma-store.js';
export type {
  ChromaMatch,
  ChromaMetadata,
  ChromaRecord,
  ChromaStoreOptions,
  StoredDocument,
} from './chroma-store.js';
export { IngestPipeline } from './pipeline.js';
export type { DocumentPlan, IngestContext, IngestPipelineOptions, PlannedChunk } from './pipeline.js';
export { registerDocumentHandlers } from './document-handlers.js';
export type { DocumentHandlerOptions } from './document-handlers.js';
export { createEmbedder } from './embedder.js';
