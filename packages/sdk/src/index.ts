export { SluiceClient } from './sluice-client.js';
export type { ListOptions, QueryOptions, RemoveOptions } from './sluice-client.js';
export type {
  ApiModeOptions,
  CommonClientOptions,
  RedisModeOptions,
  SluiceClientOptions,
} from './sluice-client-options.js';
export { SUPPORTED_EXTENSIONS } from './document-types.js';
export type { DocumentType } from './document-types.js';
export type { DocumentContent, DocumentMetadata, IngestOptions } from './document-input.js';
export type { WaitOptions } from './job-outcome.js';
export type { RequestOptions } from './transport.js';
export type { RetryOptions } from './retry.js';
export { ApiError, JobFailedError } from './errors.js';
export type { ApiErrorOptions, JobFailedErrorOptions } from './errors.js';
export { MIN_SECRET_LENGTH, createToken } from './token.js';
export type { CreateTokenOptions } from './token.js';
// The error type and result shapes come from @sluice/core; re-exported so that callers need
// only this package.
export { ERROR_CODES, SluiceError } from '@sluice/core';
export type {
  DocumentJobResult,
  DocumentList,
  ErrorCode,
  IngestAccepted,
  JobStatus,
  QueryMatch,
  QueryResult,
} from '@sluice/core';
