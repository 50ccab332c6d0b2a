import { resolve } from 'node:path';
import { commonEnvShape, isClusterUrl, isHashTagPrefix } from '@sluice/core';
import { z } from 'zod';
import {
  resolveRetryOptions,
  type ResolvedRetryOptions,
  type RetryOptions,
  type RetryPolicy,
} from './retry.js';
import { invalidRequest, validate } from './validation.js';

/** Options shared by both modes. */
export interface CommonClientOptions {
  /**
   * How long one request may take: one HTTP attempt, or one Redis operation including the wait
   * for a reconnect. Then it fails with `DEPENDENCY_UNAVAILABLE` (HTTP: after its retries).
   * @defaultValue 30000
   */
  requestTimeoutMs?: number;
}

/** A client that talks to the HTTP API (from anywhere). */
export interface ApiModeOptions extends CommonClientOptions {
  /** Base URL of the Sluice API, e.g. `http://localhost:3001`. */
  apiUrl: string;
  /** An API token ({@link createToken}); omit only for an API running with `AUTH_DISABLED=true`. */
  token?: string | undefined;
  /** Retries of transient failures (connection refused or reset, 502, 503, 504). */
  retry?: RetryOptions;
  /** Told about each retry before its delay, e.g. to log it. */
  onRetry?: RetryPolicy['onRetry'];
  redisUrl?: never;
  prefix?: never;
  redisPassword?: never;
  storageDir?: never;
  storageUrl?: never;
  s3Endpoint?: never;
  s3ForcePathStyle?: never;
}

/**
 * A client that enqueues straight onto the queue, for processes inside the cluster next to the
 * workers. `query` and `audit` need the API and are refused in this mode; `list` answers from
 * Sluice's own records of what it indexed.
 */
export interface RedisModeOptions extends CommonClientOptions {
  /** The workers' `REDIS_URL` (standalone, `redis+cluster://` or `redis+sentinel://`). */
  redisUrl: string;
  /** The workers' `SLUICE_PREFIX`. @defaultValue `sluice` */
  prefix?: string | undefined;
  /** The workers' `REDIS_PASSWORD`, when it is not in the URL. @defaultValue none */
  redisPassword?: string | undefined;
  /**
   * The workers' `STORAGE_DIR`, mounted in this process. Files are copied into it under their
   * sha256, as the API stores uploads. Without it only text (and UTF-8 bytes) up to 256 KiB can be
   * sent, inside the job itself.
   * @defaultValue none
   */
  storageDir?: string | undefined;
  /**
   * The workers' `STORAGE_URL` (`s3://bucket/prefix`), instead of `storageDir`: files are written
   * to the bucket under their sha256, as the API stores uploads. Credentials come from the AWS
   * SDK's default chain. @defaultValue none
   */
  storageUrl?: string | undefined;
  /** The workers' `S3_ENDPOINT`, for a non-AWS server. @defaultValue AWS */
  s3Endpoint?: string | undefined;
  /** The workers' `S3_FORCE_PATH_STYLE`. @defaultValue false */
  s3ForcePathStyle?: boolean | undefined;
  apiUrl?: never;
  token?: never;
  retry?: never;
  onRetry?: never;
}

/** What `new SluiceClient(options)` takes: the API mode or the Redis mode. */
export type SluiceClientOptions = ApiModeOptions | RedisModeOptions;

/** {@link SluiceClientOptions} validated, with every default applied. */
export type ResolvedClientOptions =
  | Readonly<{
      mode: 'api';
      apiUrl: string;
      token: string | undefined;
      retry: ResolvedRetryOptions;
      onRetry: RetryPolicy['onRetry'];
      requestTimeoutMs: number;
    }>
  | Readonly<{
      mode: 'redis';
      redisUrl: string;
      prefix: string;
      redisPassword: string | undefined;
      storageDir: string | undefined;
      storageUrl: string | undefined;
      s3Endpoint: string | undefined;
      s3ForcePathStyle: boolean;
      requestTimeoutMs: number;
    }>;

const apiUrlSchema = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });
const timeoutSchema = z.number().int().positive().default(30_000);

/**
 * Validates client options once, at construction.
 * @throws SluiceError `INVALID_REQUEST` naming the option
 */
export function resolveClientOptions(options: SluiceClientOptions): ResolvedClientOptions {
  const requestTimeoutMs = validate(timeoutSchema, options.requestTimeoutMs, 'requestTimeoutMs');
  const hasApi = options.apiUrl !== undefined;
  const hasRedis = options.redisUrl !== undefined;
  if (hasApi === hasRedis) {
    throw invalidRequest(
      'apiUrl',
      'give either apiUrl (HTTP API) or redisUrl (straight onto the queue), not both',
    );
  }
  if (options.apiUrl !== undefined) {
    return Object.freeze({
      mode: 'api',
      apiUrl: validate(apiUrlSchema, options.apiUrl, 'apiUrl'),
      token: options.token === undefined ? undefined : validate(z.string().min(1), options.token, 'token'),
      retry: resolveRetryOptions(options.retry),
      onRetry: options.onRetry,
      requestTimeoutMs,
    });
  }
  const redisUrl = validate(commonEnvShape.REDIS_URL, options.redisUrl, 'redisUrl');
  const prefix = validate(commonEnvShape.SLUICE_PREFIX, options.prefix, 'prefix');
  if (isClusterUrl(redisUrl) && !isHashTagPrefix(prefix)) {
    throw invalidRequest('prefix', 'on Redis Cluster the prefix must be a hash tag such as {sluice}');
  }
  if (options.storageDir !== undefined && options.storageUrl !== undefined) {
    throw invalidRequest(
      'storageUrl',
      'give storageDir (a mounted STORAGE_DIR) or storageUrl (S3), not both',
    );
  }
  const storageDir =
    options.storageDir === undefined
      ? undefined
      : resolve(validate(z.string().min(1), options.storageDir, 'storageDir'));
  const storageUrl =
    options.storageUrl === undefined
      ? undefined
      : validate(commonEnvShape.STORAGE_URL, options.storageUrl, 'storageUrl');
  const s3Endpoint =
    options.s3Endpoint === undefined
      ? undefined
      : validate(commonEnvShape.S3_ENDPOINT, options.s3Endpoint, 's3Endpoint');
  return Object.freeze({
    mode: 'redis',
    redisUrl,
    prefix,
    redisPassword:
      options.redisPassword === undefined
        ? undefined
        : validate(z.string().min(1), options.redisPassword, 'redisPassword'),
    storageDir,
    storageUrl,
    s3Endpoint,
    s3ForcePathStyle: options.s3ForcePathStyle ?? false,
    requestTimeoutMs,
  });
}
