/**
 * `@sluice/storage`: where uploads live, content-addressed, streamed and bounded: a directory
 * (`STORAGE_DIR`) or S3-compatible object storage (`STORAGE_URL`).
 */
export { DirectoryUploadStore } from './directory-store.js';
export { S3UploadStore } from './s3-store.js';
export type { S3UploadStoreOptions } from './s3-store.js';
export { SNIFF_BYTES, isContentKey } from './upload-store.js';
export type { StageOptions, StagedUpload, StoredUpload, UploadStore } from './upload-store.js';
export { createUploadStore, parseStorageUrl } from './create-upload-store.js';
export type { StorageConfig } from './create-upload-store.js';
