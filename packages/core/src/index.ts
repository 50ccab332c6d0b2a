/**
 * `@sluice/core`: the contract every part of Sluice shares (errors, job IDs and definitions, the
 * HTTP API's bodies, collection rules, document types, config schemas). It loads zod and nothing
 * else: the queue is `@sluice/core/queue`, the process runtime `@sluice/core/process`.
 */
export {
  ERROR_CODES,
  SluiceError,
  codeForStatus,
  decodeFailure,
  encodeFailure,
  isDependencyOutage,
  isErrorCode,
  toSluiceError,
} from './contract/errors.js';
export type { ErrorCode, SluiceErrorOptions } from './contract/errors.js';
export {
  PIPELINE_VERSION,
  contentHash,
  deleteJobId,
  digestParts,
  documentVersion,
  ingestJobId,
  pipelineFingerprint,
} from './contract/job-id.js';
export type { JobIdInput, VersionInput } from './contract/job-id.js';
export { defineJob, parsePayload } from './contract/job-definition.js';
export type {
  JobDefinition,
  JobDefinitionOptions,
  PayloadInputOf,
  PayloadOf,
} from './contract/job-definition.js';
export {
  API_DEFAULTS,
  DEFAULT_PREFIX,
  KNOWN_PLACEHOLDER_SECRETS,
  RUNTIME_DEFAULTS,
  apiEnvSchema,
  commonEnvShape,
  parseEnv,
  secretBits,
  workerEnvSchema,
} from './contract/config.js';
export type { ApiConfig, WorkerConfig } from './contract/config.js';
export { isClusterUrl, isHashTagPrefix, parseRedisUrl } from './contract/redis-url.js';
export type { ParsedRedisUrl } from './contract/redis-url.js';
export { parseRetryAfter } from './contract/retry-after.js';
export {
  COLLECTION_NAME_LENGTH,
  DOC_ID_MAX_LENGTH,
  validateCollectionName,
  validateDocId,
} from './contract/collection-name.js';
export {
  DOCUMENT_TYPES,
  DOCUMENT_TYPE_NAMES,
  MEDIA_TYPES,
  SUPPORTED_EXTENSIONS,
  SUPPORTED_TYPES_DESCRIPTION,
  TEXT_DOCUMENT_TYPES,
  TYPE_BY_EXTENSION,
  isTextDocumentType,
  typeFromFileName,
} from './contract/document-types.js';
export type { DocumentType, SupportedExtension, TextDocumentType } from './contract/document-types.js';
export {
  INGEST_QUEUE,
  MAX_INLINE_TEXT_BYTES,
  MAX_METADATA_BYTES,
  MAX_METADATA_KEYS,
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
} from './contract/document-jobs.js';
export type {
  DeleteDocumentPayload,
  DocumentJobResult,
  IngestDocumentPayload,
} from './contract/document-jobs.js';
// The HTTP API's request bodies and its answers.
export {
  auditBodySchema,
  ingestTextBodySchema,
  queryBodySchema,
  tokenClaimsSchema,
} from './contract/api-contract.js';
export {
  auditReportSchema,
  collectionProgressSchema,
  deleteAcceptedSchema,
  documentListSchema,
  errorBodySchema,
  ingestAcceptedSchema,
  jobStatusSchema,
  matchSchema,
  queryResultSchema,
} from './contract/api-contract.js';
export type {
  AuditBody,
  AuditReport,
  CollectionProgress,
  DocumentList,
  ErrorBody,
  IngestAccepted,
  IngestTextBody,
  JobStatus,
  QueryBody,
  QueryMatch,
  QueryResult,
  TokenClaims,
} from './contract/api-contract.js';
// The logger's type only (erased at run time): the pure libraries take a logger without loading pino.
export type { Logger } from 'pino';
