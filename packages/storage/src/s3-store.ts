import { randomUUID } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { SluiceError } from '@sluice/core';
import { checkedKey, missing } from './directory-store.js';
import { measure } from './measure.js';
import {
  isContentKey,
  type StageOptions,
  type StagedUpload,
  type StoredUpload,
  type UploadStore,
} from './upload-store.js';

/** Options for {@link S3UploadStore}. */
export interface S3UploadStoreOptions {
  bucket: string;
  /** Key prefix, e.g. `uploads/` (with its trailing slash). @defaultValue none */
  prefix?: string;
  /** A non-AWS endpoint (`S3_ENDPOINT`). @defaultValue AWS */
  endpoint?: string | undefined;
  /** Path-style addressing (`S3_FORCE_PATH_STYLE`). @defaultValue false */
  forcePathStyle?: boolean;
  /**
   * The AWS region. @defaultValue the SDK's default chain (`AWS_REGION`, the config file); with a
   * non-AWS `endpoint`, `us-east-1` (such servers take any)
   */
  region?: string | undefined;
  /** Extra client settings (credentials in tests). @defaultValue the SDK's default chain */
  client?: Partial<S3ClientConfig>;
}

/** Temporary copies live under this part of the prefix, never a content key. */
const TEMP_DIR = 'tmp/';

/**
 * Uploads in S3-compatible object storage (`STORAGE_URL=s3://bucket/prefix`): AWS S3, MinIO,
 * SeaweedFS, Garage. An upload streams to a temporary object (a multipart upload through
 * `@aws-sdk/lib-storage`, hashed and bounded on the way) and is copied under its sha256 when
 * committed (S3 has no rename; a copy within the bucket moves no bytes through this process).
 * Credentials come from the AWS SDK's default chain.
 */
export class S3UploadStore implements UploadStore {
  readonly location: string;
  readonly client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: S3UploadStoreOptions) {
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? '';
    this.location = `s3://${options.bucket}/${this.#prefix}`;
    const region = options.region ?? (options.endpoint ? 'us-east-1' : undefined);
    this.client = new S3Client({
      ...(region ? { region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      ...options.client,
    });
  }

  async stage(source: Readable, options: StageOptions = {}): Promise<StagedUpload> {
    const tempKey = `${this.#prefix}${TEMP_DIR}${randomUUID()}`;
    const measured = measure(options.maxBytes);
    const body = new PassThrough();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.#bucket, Key: tempKey, Body: body },
    });
    const uploaded = upload.done();
    // A failed pipeline aborts the upload; its rejection is then reported once, below.
    uploaded.catch(() => undefined);
    try {
      await pipeline(source, measured.stream, body, ...(options.signal ? [{ signal: options.signal }] : []));
      await uploaded;
    } catch (err) {
      await upload.abort().catch(() => undefined);
      await this.#deleteKey(tempKey);
      throw options.signal?.aborted ? options.signal.reason : this.#error(err, 'stage an upload');
    }
    const { sha256, size, head } = measured.result();
    let settled = false;
    return {
      sha256,
      size,
      head,
      commit: async () => {
        settled = true;
        try {
          // Replaces a copy of the same bytes: the upload is fresh (LastModified new) whatever was there.
          await this.client.send(
            new CopyObjectCommand({
              Bucket: this.#bucket,
              Key: `${this.#prefix}${sha256}`,
              CopySource: `${this.#bucket}/${encodeURIComponent(tempKey).replaceAll('%2F', '/')}`,
            }),
          );
        } catch (err) {
          throw this.#error(err, 'commit an upload');
        } finally {
          await this.#deleteKey(tempKey);
        }
        return sha256;
      },
      discard: async () => {
        if (settled) return;
        settled = true;
        await this.#deleteKey(tempKey);
      },
    };
  }

  async read(key: string, signal?: AbortSignal): Promise<Uint8Array> {
    try {
      const answer = await this.client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: `${this.#prefix}${checkedKey(key)}` }),
        signal ? { abortSignal: signal } : {},
      );
      return await answer.Body!.transformToByteArray();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (isNotFound(err)) throw missing(key, this.location, err);
      throw this.#error(err, `read ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    await this.#deleteKey(`${this.#prefix}${checkedKey(key)}`);
  }

  async *list(): AsyncIterable<StoredUpload> {
    for await (const object of this.#objects(this.#prefix)) {
      const key = object.key.slice(this.#prefix.length);
      if (isContentKey(key)) yield { key, modifiedAt: object.modifiedAt };
    }
  }

  async removeStaleTemporaries(maxAgeMs: number): Promise<number> {
    let removed = 0;
    for await (const object of this.#objects(`${this.#prefix}${TEMP_DIR}`)) {
      if (Date.now() - object.modifiedAt > maxAgeMs) {
        await this.#deleteKey(object.key);
        removed += 1;
      }
    }
    return removed;
  }

  async *#objects(prefix: string): AsyncIterable<{ key: string; modifiedAt: number }> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key) yield { key: object.Key, modifiedAt: object.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async #deleteKey(key: string): Promise<void> {
    await this.client
      .send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }))
      .catch(() => undefined);
  }

  #error(err: unknown, what: string): unknown {
    if (err instanceof SluiceError) return err;
    return new SluiceError(
      'DEPENDENCY_UNAVAILABLE',
      `object storage ${this.location} could not ${what}: ${(err as Error).message}`,
      {
        cause: err,
        details: { dependency: 'storage' },
      },
    );
  }
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: unknown }).name;
  return (
    name === 'NoSuchKey' ||
    name === 'NotFound' ||
    (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
  );
}
