/**
 * `@sluice/core/queue`: Redis connections, the document queue (producer side) and the document
 * lock. Loads bullmq and ioredis.
 */
export { checkEvictionPolicy, createRedisConnection, reconnectDelay } from './redis-connection.js';
export type { RedisConnectionOptions, RedisRole } from './redis-connection.js';
export { enqueue } from './enqueue.js';
export { DELETED, DocumentQueue } from './document-queue.js';
export type { DocumentQueueOptions, IngestRequest, LatestVersion } from './document-queue.js';
export { DocumentLock } from './document-lock.js';
export type { DocumentLockOptions, HeldDocumentLock } from './document-lock.js';
