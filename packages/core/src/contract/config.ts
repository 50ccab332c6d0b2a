import { z } from 'zod';
import { SluiceError } from './errors.js';
import { isClusterUrl, isHashTagPrefix } from './redis-url.js';

const int = (min: number) => z.coerce.number().int().min(min);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const url = (protocols: readonly string[]) =>
  z.url().refine((value) => protocols.some((p) => value.startsWith(`${p}//`)), {
    message: `must start with ${protocols.map((p) => `${p}//`).join(' or ')}`,
  });

/** The BullMQ key prefix when `SLUICE_PREFIX` is not set. */
export const DEFAULT_PREFIX = 'sluice';

/**
 * Variables every Sluice process reads. Names, defaults and meanings are SPEC.md's
 * "Configuration" table.
 */
export const commonEnvShape = {
  /** Redis: `redis://`, `rediss://`, or `redis+cluster://host:port,host:port` for a Redis Cluster. @defaultValue `redis://127.0.0.1:6379` */
  REDIS_URL: z
    .string()
    .default('redis://127.0.0.1:6379')
    .refine((v) => /^(redis|rediss|redis\+cluster|rediss\+cluster|redis\+sentinel):\/\//.test(v), {
      message: 'must start with redis://, rediss://, redis+cluster:// or redis+sentinel://',
    }),
  /** BullMQ key prefix; use `{sluice}` on Redis Cluster so a queue's keys share a slot. @defaultValue `sluice` */
  SLUICE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}-]+$/, 'letters, digits, _, -, { and } only')
    .default(DEFAULT_PREFIX),
  /** Chroma server. @defaultValue `http://127.0.0.1:8000` */
  CHROMA_URL: url(['http:', 'https:']).default('http://127.0.0.1:8000'),
  /**
   * Redis password, from a Secret; used when REDIS_URL carries none (so the URL can live in a
   * ConfigMap). @defaultValue none
   */
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** Uploaded files on a local or shared volume, when `STORAGE_URL` is not set. @defaultValue `./data/uploads` */
  STORAGE_DIR: z.string().min(1).default('./data/uploads'),
  /**
   * `s3://bucket/prefix`: uploads in S3-compatible object storage instead of `STORAGE_DIR`
   * (credentials from the AWS SDK's default chain: `AWS_ACCESS_KEY_ID`, …). @defaultValue none
   */
  STORAGE_URL: z
    .string()
    .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, 'must be s3://bucket or s3://bucket/prefix')
    .optional(),
  /** Endpoint of a non-AWS S3 server (MinIO, SeaweedFS, Garage), e.g. `http://minio:9000`. @defaultValue AWS */
  S3_ENDPOINT: url(['http:', 'https:']).optional(),
  /** Path-style bucket addressing (`endpoint/bucket/key`), which most non-AWS servers need. @defaultValue false */
  S3_FORCE_PATH_STYLE: bool.default(false),
  /** `hash` (built-in, offline, lexical) or `openai` (any OpenAI-compatible endpoint). @defaultValue `hash` */
  EMBEDDINGS: z.enum(['hash', 'openai']).default('hash'),
  /** Base URL of an OpenAI-compatible API, e.g. `http://ollama:11434/v1`. */
  EMBEDDINGS_URL: url(['http:', 'https:']).optional(),
  /** Embedding model name for `openai`. */
  EMBEDDINGS_MODEL: z.string().min(1).optional(),
  /** API key for `openai`; may be empty for local servers. */
  EMBEDDINGS_API_KEY: z.string().optional(),
  /**
   * The endpoint's requests per minute, enforced across all workers (a token bucket in Redis);
   * with it, no worker sends faster than the fleet's share. @defaultValue none (not limited here)
   */
  EMBEDDINGS_RPM: int(1).optional(),
  /** The endpoint's tokens per minute, enforced like `EMBEDDINGS_RPM`. @defaultValue none */
  EMBEDDINGS_TPM: int(1).optional(),
  /**
   * Most texts in one embeddings request; concurrent jobs of a worker share requests up to it
   * (OpenAI takes 2048; Hugging Face TEI 32 unless started with a larger `--max-client-batch-size`).
   * @defaultValue 256
   */
  EMBEDDINGS_BATCH_SIZE: int(1).max(2048).default(256),
  /** Most tokens (estimated) in one embeddings request. @defaultValue 100000 */
  EMBEDDINGS_BATCH_TOKENS: int(1000).default(100_000),
  /** Embeddings requests one worker keeps in flight at once. @defaultValue 4 */
  EMBEDDINGS_CONCURRENCY: int(1).max(64).default(4),
  /**
   * Size bound of the embedding cache in Redis, in MiB: vectors by (model, dimensions, text), so
   * the same text is not paid for twice. `0` turns it off. @defaultValue 0
   */
  EMBEDDINGS_CACHE_MB: int(0).default(0),
  /** How long a cached vector is kept. @defaultValue 604800 (7 days) */
  EMBEDDINGS_CACHE_TTL_S: int(60).default(604_800),
  /** Dimensions of the `hash` embedder. @defaultValue 384 */
  EMBEDDINGS_DIMENSIONS: int(8).max(8192).default(384),
  /** Characters per chunk. @defaultValue 1000 */
  CHUNK_SIZE: int(100).max(20000).default(1000),
  /** Characters of overlap between neighbouring chunks. @defaultValue 200 */
  CHUNK_OVERLAP: int(0).max(5000).default(200),
  /** Pino level. @defaultValue `info` */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** A release marker shown in logs and metrics (the rollout lab sets it per "version"). @defaultValue `dev` */
  SLUICE_RELEASE: z.string().min(1).default('dev'),
};

/**
 * Defaults of the worker runtime, one value each: the worker's config schema, `WorkerRuntime` and
 * the deploy policy tests (grace periods) all read them from here.
 */
export const RUNTIME_DEFAULTS = {
  /** Jobs one worker process runs at once (`WORKER_CONCURRENCY`). */
  concurrency: 16,
  /** After SIGTERM, how long in-flight jobs may run before they are preempted (`DRAIN_TIMEOUT_MS`). */
  drainTimeoutMs: 20_000,
  /** After preemption, how long handlers get to reach their next safe point. */
  abortGraceMs: 5_000,
  /** BullMQ lock duration (`LOCK_DURATION_MS`). */
  lockDurationMs: 10_000,
  /** BullMQ stalled-check interval (`STALLED_INTERVAL_MS`). */
  stalledIntervalMs: 4_000,
  /** Stalls (lost locks) a job survives before it fails (`MAX_STALLED_COUNT`). */
  maxStalledCount: 5,
  /** Preemptions a job survives without spending an attempt (`MAX_PREEMPTIONS`). */
  maxPreemptions: 10,
} as const;

/** Defaults of the API process that the deploy policy (grace periods) derives from. */
export const API_DEFAULTS = {
  /** `SHUTDOWN_TIMEOUT_MS`: the most the API waits for requests in flight after closing its listener. */
  shutdownTimeoutMs: 15_000,
} as const;

/** Variables the worker process reads. */
export const workerEnvSchema = z
  .object({
    ...commonEnvShape,
    /** Jobs one worker process runs at once. @defaultValue 4 */
    WORKER_CONCURRENCY: int(1).max(256).default(RUNTIME_DEFAULTS.concurrency),
    /** After SIGTERM, how long in-flight jobs may run before they are preempted. @defaultValue 20000 */
    DRAIN_TIMEOUT_MS: int(0).default(RUNTIME_DEFAULTS.drainTimeoutMs),
    /** A parse that runs longer is stopped; the job fails with `PARSE_TIMEOUT`. @defaultValue 120000 */
    PARSE_TIMEOUT_MS: int(100).default(120000),
    /** Memory cap of the PDF parser thread (old generation), in MiB. @defaultValue 1024 */
    PARSE_MAX_MEMORY_MB: int(64).default(1024),
    /** Probe and metrics port. @defaultValue 3002 */
    HEALTH_PORT: int(0).max(65535).default(3002),
    /** BullMQ lock duration; see `WorkerRuntimeOptions.lockDurationMs`. @defaultValue 10000 */
    LOCK_DURATION_MS: int(1000).default(RUNTIME_DEFAULTS.lockDurationMs),
    /** BullMQ stalled-check interval. @defaultValue 4000 */
    STALLED_INTERVAL_MS: int(500).default(RUNTIME_DEFAULTS.stalledIntervalMs),
    /** Stalls (lost locks) a job survives before it fails. @defaultValue 5 */
    MAX_STALLED_COUNT: int(0).default(RUNTIME_DEFAULTS.maxStalledCount),
    /** Preemptions a job survives without spending an attempt. @defaultValue 10 */
    MAX_PREEMPTIONS: int(0).default(RUNTIME_DEFAULTS.maxPreemptions),
  })
  .superRefine(requireOpenAiSettings)
  .superRefine(requireClusterPrefix)
  .superRefine(requireS3Settings);

/** Variables the API process reads. */
export const apiEnvSchema = z
  .object({
    ...commonEnvShape,
    /** HTTP port. @defaultValue 3001 */
    PORT: int(0).max(65535).default(3001),
    /** Address to listen on. @defaultValue `0.0.0.0` */
    HOST: z.string().min(1).default('0.0.0.0'),
    /**
     * HS256 secret for API tokens: at least 32 characters, not a known placeholder, and random
     * enough (`openssl rand -base64 48`).
     */
    AUTH_JWT_SECRET: z.string().superRefine(checkSecret).optional(),
    /** Accept RS256/ES256 tokens of an identity provider, verified against its JWK set. @defaultValue none */
    AUTH_JWKS_URL: url(['http:', 'https:']).optional(),
    /** Required `iss` of every token. @defaultValue not checked */
    AUTH_ISSUER: z.string().min(1).optional(),
    /** Required `aud` of every token. @defaultValue not checked */
    AUTH_AUDIENCE: z.string().min(1).optional(),
    /** The oldest a token may be, from its `iat`, in seconds (tokens must carry `exp` in any case). @defaultValue not checked */
    AUTH_MAX_TOKEN_AGE_S: int(1).optional(),
    /** Serve without authentication (development only). @defaultValue false */
    AUTH_DISABLED: bool.default(false),
    /** Larger uploads get 413. @defaultValue 52428800 */
    MAX_UPLOAD_BYTES: int(1).default(52428800),
    /** After SIGTERM, how long the API keeps serving (readiness already 503). @defaultValue 5000 */
    SHUTDOWN_DELAY_MS: int(0).default(5000),
    /**
     * After the listener closed, how long requests in flight may take before their connections
     * are cut. @defaultValue 15000
     */
    SHUTDOWN_TIMEOUT_MS: int(0).default(API_DEFAULTS.shutdownTimeoutMs),
    /** Port of `/metrics` and the detailed health report, never the public one. @defaultValue 3003 */
    METRICS_PORT: int(0).max(65535).default(3003),
    /** Requests one token (or, without one, one address) may make per minute, across every API replica. @defaultValue 600 */
    RATE_LIMIT_PER_MINUTE: int(1).default(3000),
    /**
     * Trust `X-Forwarded-*` from this many proxy hops (a TLS-terminating ingress: 1), so that the
     * client address and `https` are right (the dashboard cookie is then `Secure`). @defaultValue 0
     */
    TRUST_PROXY: int(0).max(10).default(0),
  })
  .superRefine(requireOpenAiSettings)
  .superRefine(requireClusterPrefix)
  .superRefine(requireS3Settings)
  .superRefine((env, ctx) => {
    if (!env.AUTH_JWT_SECRET && !env.AUTH_JWKS_URL && !env.AUTH_DISABLED) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_JWT_SECRET'],
        message: 'is required (or AUTH_JWKS_URL, or AUTH_DISABLED=true for development)',
      });
    }
  });

/**
 * Secrets that ship in examples and documents: a deployment still using one has a secret anyone
 * who read them knows.
 */
export const KNOWN_PLACEHOLDER_SECRETS: readonly string[] = [
  'replace-me-with-at-least-32-random-characters',
  'change-me-to-a-long-random-secret-of-32-chars-or-more',
  'dev-secret-0123456789abcdef0123456789abcdef',
];

/** The least an HS256 secret's estimated entropy may be, in bits. */
const MIN_SECRET_BITS = 96;

/**
 * An estimate of a secret's entropy: its length times the Shannon entropy of its characters. A
 * random secret of 32 base64 characters estimates about 150 bits, 32 random hex digits about 120;
 * a repeated or word-like string far less.
 */
export function secretBits(secret: string): number {
  const counts = new Map<string, number>();
  for (const ch of secret) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) perChar -= (n / secret.length) * Math.log2(n / secret.length);
  return perChar * secret.length;
}

function checkSecret(secret: string, ctx: z.RefinementCtx): void {
  if (secret.length < 32) ctx.addIssue({ code: 'custom', message: 'must be at least 32 characters' });
  else if (KNOWN_PLACEHOLDER_SECRETS.includes(secret)) {
    ctx.addIssue({
      code: 'custom',
      message: 'is a published placeholder; generate one (openssl rand -base64 48)',
    });
  } else if (secretBits(secret) < MIN_SECRET_BITS) {
    ctx.addIssue({
      code: 'custom',
      message: `is not random enough (about ${Math.round(secretBits(secret))} bits; at least ${MIN_SECRET_BITS}); generate one (openssl rand -base64 48)`,
    });
  }
}

function requireS3Settings(
  env: { STORAGE_URL?: string | undefined; S3_ENDPOINT?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (env.S3_ENDPOINT && !env.STORAGE_URL) {
    ctx.addIssue({
      code: 'custom',
      path: ['S3_ENDPOINT'],
      message: 'is set, but STORAGE_URL (s3://bucket/prefix) is not',
    });
  }
}

function requireClusterPrefix(env: { REDIS_URL: string; SLUICE_PREFIX: string }, ctx: z.RefinementCtx): void {
  if (isClusterUrl(env.REDIS_URL) && !isHashTagPrefix(env.SLUICE_PREFIX)) {
    ctx.addIssue({
      code: 'custom',
      path: ['SLUICE_PREFIX'],
      message: "must be a hash tag such as {sluice} on Redis Cluster, so that a queue's keys share one slot",
    });
  }
}

function requireOpenAiSettings(
  env: { EMBEDDINGS: string; EMBEDDINGS_URL?: string | undefined; EMBEDDINGS_MODEL?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (env.EMBEDDINGS !== 'openai') return;
  for (const name of ['EMBEDDINGS_URL', 'EMBEDDINGS_MODEL'] as const) {
    if (!env[name])
      ctx.addIssue({ code: 'custom', path: [name], message: 'is required when EMBEDDINGS=openai' });
  }
}

/** Parsed worker configuration. */
export type WorkerConfig = Readonly<z.output<typeof workerEnvSchema>>;
/** Parsed API configuration. */
export type ApiConfig = Readonly<z.output<typeof apiEnvSchema>>;

/**
 * Parses environment variables once, at start. Empty strings count as unset.
 * @throws SluiceError `CONFIG_INVALID` whose message names every bad variable, its value and what is allowed
 */
export function parseEnv<TSchema extends z.ZodType>(
  schema: TSchema,
  env: Record<string, string | undefined>,
): Readonly<z.output<TSchema>> {
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '(environment)');
      const value = cleaned[name];
      const shown =
        value === undefined ? 'unset' : /SECRET|KEY|PASSWORD/.test(name) ? '(hidden)' : JSON.stringify(value);
      return `${name}=${shown}: ${issue.message}`;
    });
    throw new SluiceError('CONFIG_INVALID', `invalid configuration:\n  ${lines.join('\n  ')}`, {
      details: { variables: parsed.error.issues.map((i) => String(i.path[0])) },
    });
  }
  return Object.freeze(parsed.data);
}
