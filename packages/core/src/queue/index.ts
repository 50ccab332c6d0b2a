/**
 * `@sluice/core/queue`: Redis connections, the document queue (producer side) and the document
 * lock. Loads bullmq and ioredis.
 */
export { checkEvictionPolicy, createRedisConnection, reconnectDelay } from './redis-connection.js';
export type { RedisConnectionOptions, RedisRole } from './redis-connection.js';
export { enqueue } from './enqueue.js';
export { DocumentQueue, UNKNOWN_FINGERPRINT, UPLOAD_PROTECTION_MS } from './document-queue.js';
export type {
  DocumentQueueHooks,
  DocumentQueueOptions,
  IngestOptions,
  IngestRequest,
} from './document-queue.js';
export { DocumentLock, LeaseLostError } from './document-lock.js';
export { JobEvents } from './job-events.js';
export type { JobEventKind, JobEventsOptions } from './job-events.js';
export { RedisRateLimiter, RedisVectorCache, embedderExtras } from './embedding-limits.js';
export type {
  EmbeddingLimitsConfig,
  RedisRateLimiterOptions,
  RedisVectorCacheOptions,
} from './embedding-limits.js';
export type { AcquireResult, DocumentLease, DocumentLockOptions } from './document-lock.js';
export {
  DELETED,
  documentKeys,
  indexedRecordSchema,
  latestSubmissionSchema,
  parseRecord,
} from './document-records.js';
export type { IndexedRecord, LatestSubmission } from './document-records.js';
