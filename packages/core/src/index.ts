export {
  ERROR_CODES,
  SluiceError,
  decodeFailure,
  encodeFailure,
  isErrorCode,
  toSluiceError,
} from './errors.js';
export type { ErrorCode, SluiceErrorOptions } from './errors.js';
export {
  PIPELINE_VERSION,
  chunkId,
  contentHash,
  deleteJobId,
  ingestJobId,
  ordinalsAmongEqual,
  pipelineFingerprint,
} from './ids.js';
export type { ChunkIdInput, JobIdInput } from './ids.js';
export { defineJob, enqueue, parsePayload } from './job-definition.js';
export type { JobDefinition, JobDefinitionOptions, PayloadInputOf, PayloadOf } from './job-definition.js';
export { apiEnvSchema, commonEnvShape, parseEnv, workerEnvSchema } from './config.js';
export type { ApiConfig, WorkerConfig } from './config.js';
export {
  checkEvictionPolicy,
  createRedisConnection,
  isClusterUrl,
  reconnectDelay,
} from './redis-connection.js';
export type { RedisConnectionOptions, RedisRole } from './redis-connection.js';
export { createLogger } from './logger.js';
export type { Logger, LoggerOptions } from './logger.js';
export {
  createMetricsRegistry,
  createWorkerMetrics,
  registerHttpMetrics,
  registerQueueDepth,
} from './metrics.js';
export type { WorkerMetrics } from './metrics.js';
export { createHealthServer, runHealthChecks } from './health-server.js';
export type { HealthCheck, HealthReport, HealthServerOptions } from './health-server.js';
export { WorkerRuntime, runtimeOptionsFromConfig } from './worker-runtime.js';
export type {
  DrainResult,
  JobContext,
  JobHandler,
  ResolvedWorkerRuntimeOptions,
  WorkerRuntimeOptions,
  WorkerState,
} from './worker-runtime.js';
export { handleProcessSignals } from './process-lifecycle.js';
export type { ProcessSignalOptions } from './process-lifecycle.js';
export { runWorkerProcess } from './worker-process.js';
export type { WorkerProcess, WorkerProcessOptions } from './worker-process.js';
export {
  COLLECTION_NAME_LENGTH,
  DOC_ID_MAX_LENGTH,
  validateCollectionName,
  validateDocId,
} from './collection-name.js';
export {
  INGEST_QUEUE,
  MAX_INLINE_TEXT_BYTES,
  RESERVED_METADATA_KEYS,
  collectionSchema,
  contentHashSchema,
  deleteDocumentJob,
  deleteDocumentPayload,
  docIdSchema,
  documentJobResultSchema,
  documentTypeSchema,
  ingestDocumentJob,
  ingestDocumentPayload,
  metadataSchema,
} from './document-jobs.js';
export type { DeleteDocumentPayload, DocumentJobResult, IngestDocumentPayload } from './document-jobs.js';
export { DELETED, DocumentQueue, jobStatusSchema } from './document-queue.js';
export type {
  DocumentQueueOptions,
  IngestAccepted,
  IngestRequest,
  JobStatus,
  LatestVersion,
} from './document-queue.js';
export { DocumentLock } from './document-lock.js';
export type { DocumentLockOptions, HeldDocumentLock } from './document-lock.js';
export {
  deleteAcceptedSchema,
  documentListSchema,
  errorBodySchema,
  ingestAcceptedSchema,
  ingestTextBodySchema,
  matchSchema,
  queryBodySchema,
  queryResultSchema,
  tokenClaimsSchema,
} from './api-contract.js';
export type {
  DocumentList,
  ErrorBody,
  IngestTextBody,
  QueryBody,
  QueryMatch,
  QueryResult,
  TokenClaims,
} from './api-contract.js';
