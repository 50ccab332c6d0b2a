/**
 * `@sluice/sdk`: `SluiceClient` over the HTTP API, light enough for any application: it loads no
 * server, queue, parser or vector-store code. The Redis mode is `@sluice/sdk/redis` (loaded by the
 * client when given a `redisUrl`), the CLI `@sluice/sdk/cli`.
 */
export { SluiceClient } from './sluice-client.js';
export type { AuditOptions, ListOptions, QueryOptions, RemoveOptions } from './sluice-client.js';
export type {
  ApiModeOptions,
  CommonClientOptions,
  RedisModeOptions,
  SluiceClientOptions,
} from './sluice-client-options.js';
export type { DocumentContent, DocumentMetadata, IngestOptions } from './document-input.js';
export type { WaitOptions } from './job-outcome.js';
export type { RequestOptions } from './transport.js';
export type { RetryOptions } from './retry.js';
export { ApiError, JobFailedError } from './errors.js';
export type { ApiErrorOptions, JobFailedErrorOptions } from './errors.js';
export { SYNC_METADATA_KEY, syncFolder } from './sync.js';
export type { SyncAction, SyncOptions, SyncSummary } from './sync.js';
export { MIN_SECRET_LENGTH, createToken } from './token.js';
export type { CreateTokenOptions } from './token.js';
// The error type, result shapes and supported types come from @sluice/core; re-exported so that callers need
// only this package.
export { ERROR_CODES, SUPPORTED_EXTENSIONS, SluiceError } from '@sluice/core';
export type {
  AuditReport,
  CollectionProgress,
  DocumentJobResult,
  DocumentList,
  DocumentType,
  ErrorCode,
  IngestAccepted,
  JobStatus,
  QueryMatch,
  QueryResult,
} from '@sluice/core';
