import { DirectoryUploadStore } from './directory-store.js';
import { S3UploadStore } from './s3-store.js';
import type { UploadStore } from './upload-store.js';

/** The storage settings of a Sluice process (its config holds them). */
export interface StorageConfig {
  STORAGE_DIR: string;
  STORAGE_URL?: string | undefined;
  S3_ENDPOINT?: string | undefined;
  S3_FORCE_PATH_STYLE: boolean;
}

/** `s3://bucket/prefix` → bucket and prefix (with a trailing slash when there is one). */
export function parseStorageUrl(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match) throw new RangeError(`not an s3:// URL: ${url}`);
  const path = match[2]!.replace(/^\/+|\/+$/g, '');
  return { bucket: match[1]!, prefix: path ? `${path}/` : '' };
}

/** The store a configuration names: S3 when `STORAGE_URL` is set, else the `STORAGE_DIR` directory. */
export function createUploadStore(config: StorageConfig): UploadStore {
  if (!config.STORAGE_URL) return new DirectoryUploadStore(config.STORAGE_DIR);
  return new S3UploadStore({
    ...parseStorageUrl(config.STORAGE_URL),
    endpoint: config.S3_ENDPOINT,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
  });
}
