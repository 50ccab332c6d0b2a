import { SUPPORTED_TYPES_DESCRIPTION } from './document-types.js';

/**
 * Every failure a caller must tell apart has one code here. The table is the single place that
 * says what a code means, whether it is worth retrying and which HTTP status it maps to. Where
 * several codes share a status, the first one listed is what that status means without a code of
 * its own ({@link codeForStatus}).
 */
export const ERROR_CODES = {
  INVALID_REQUEST: {
    retryable: false,
    status: 400,
    description: 'a parameter, field, payload or body failed validation; `error.field` names it',
  },
  UNAUTHENTICATED: {
    retryable: false,
    status: 401,
    description: 'the bearer token is missing, malformed, expired or wrongly signed',
  },
  FORBIDDEN: { retryable: false, status: 403, description: 'the token does not cover the collection' },
  NOT_FOUND: {
    retryable: false,
    status: 404,
    description: 'the thing asked for does not exist (finished jobs are kept a week)',
  },
  TOO_LARGE: {
    retryable: false,
    status: 413,
    description: 'the upload is larger than MAX_UPLOAD_BYTES, or a DOCX inflates past its unzipped-size cap',
  },
  RATE_LIMITED: {
    retryable: true,
    status: 429,
    description:
      'this token (or address) sent more requests than RATE_LIMIT_PER_MINUTE; retry after Retry-After',
  },
  UNSUPPORTED_TYPE: {
    retryable: false,
    status: 415,
    description: `the bytes are not of a type Sluice ingests: ${SUPPORTED_TYPES_DESCRIPTION}`,
  },
  INVALID_DOCUMENT: {
    retryable: false,
    status: 422,
    description: 'corrupt, truncated or mistyped bytes (a PDF or DOCX that is not one), or an empty PDF',
  },
  ENCRYPTED_DOCUMENT: {
    retryable: false,
    status: 422,
    description: 'the document needs a password to open (an encrypted PDF or DOCX)',
  },
  NO_TEXT: {
    retryable: false,
    status: 422,
    description: 'the document has no extractable text (image-only PDF, empty file, empty DOCX or page)',
  },
  PARSE_TIMEOUT: {
    retryable: false,
    status: 422,
    description: 'parsing ran past PARSE_TIMEOUT_MS or past its memory cap and was stopped',
  },
  FILE_MISSING: {
    retryable: false,
    status: 422,
    description: 'the uploaded file the job names is no longer in storage',
  },
  DEPENDENCY_UNAVAILABLE: {
    retryable: true,
    status: 503,
    description: 'a dependency (Redis, Chroma, an embeddings endpoint) does not answer; retry',
  },
  EMBEDDING_FAILED: {
    retryable: true,
    status: 502,
    description: 'the embeddings endpoint answered with an error; retry',
  },
  PREEMPTED: {
    retryable: true,
    status: 503,
    description: 'the job was stopped before it finished (drain deadline, shutdown) and resumes elsewhere',
  },
  TIMEOUT: { retryable: true, status: 504, description: 'the wait for a job ran past its deadline' },
  SHUTTING_DOWN: {
    retryable: true,
    status: 503,
    description: 'this instance is shutting down and takes no new work; retry (another instance answers)',
  },
  INTERNAL: {
    retryable: true,
    status: 500,
    description:
      'an unexpected error, retried since it may be transient; the server log has it under the `x-request-id`',
  },
  CONFIG_INVALID: {
    retryable: false,
    status: 500,
    description: 'the configuration is invalid; the process stops before doing anything',
  },
} as const satisfies Record<string, { retryable: boolean; status: number; description: string }>;

/** One of the codes in {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Each HTTP status of {@link ERROR_CODES} → the first code listed with it. */
const CODE_BY_STATUS: ReadonlyMap<number, ErrorCode> = new Map(
  (Object.entries(ERROR_CODES) as [ErrorCode, { status: number }][])
    .reverse()
    .map(([code, { status }]) => [status, code]),
);

/**
 * The code an HTTP error status stands for when the answer carries no code of its own (a
 * framework's or a proxy's answer): the first code {@link ERROR_CODES} lists with that status,
 * else `INVALID_REQUEST` for a 4xx and `INTERNAL` for anything else.
 */
export function codeForStatus(status: number): ErrorCode {
  return CODE_BY_STATUS.get(status) ?? (status >= 400 && status < 500 ? 'INVALID_REQUEST' : 'INTERNAL');
}

/** Tells whether a string is a known {@link ErrorCode}. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** Options for {@link SluiceError}. */
export interface SluiceErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
  /** Structured context (a field name, a file, a limit) kept for logs and API answers. */
  details?: Record<string, unknown>;
}

/**
 * The one error type Sluice throws on purpose. Its {@link SluiceError.code} decides retries at the
 * worker boundary and the status at the HTTP boundary.
 */
export class SluiceError extends Error {
  override readonly name = 'SluiceError';
  /** What went wrong, from {@link ERROR_CODES}. */
  readonly code: ErrorCode;
  /** Structured context; never contains secrets. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...options.details });
  }

  /** Whether a job failing with this error should be tried again. */
  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }

  /** The HTTP status this error maps to. */
  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  /** The wire form used by the API and stored as a job's failure. */
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/**
 * Turns anything thrown into a {@link SluiceError}, once, at a boundary. Errors that already carry
 * a Sluice code (including ones that crossed a process or thread as plain objects) keep it;
 * everything else becomes `INTERNAL` with the original as `cause`.
 */
export function toSluiceError(err: unknown): SluiceError {
  if (err instanceof SluiceError) return err;
  if (typeof err === 'object' && err !== null) {
    const { code, message } = err as { code?: unknown; message?: unknown };
    if (isErrorCode(code)) {
      return new SluiceError(code, typeof message === 'string' ? message : code, { cause: err });
    }
    if (isConnectionError(err)) {
      return new SluiceError(
        'DEPENDENCY_UNAVAILABLE',
        typeof message === 'string' ? message : 'a dependency did not answer',
        { cause: err },
      );
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return new SluiceError('INTERNAL', message, { cause: err });
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

function isConnectionError(err: object): boolean {
  const { code, cause, name } = err as { code?: unknown; cause?: unknown; name?: unknown };
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  // undici wraps socket errors: TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }).
  if (name === 'TypeError' && typeof cause === 'object' && cause !== null) return isConnectionError(cause);
  // chromadb's client reports an unreachable server this way.
  if (name === 'ChromaConnectionError') return true;
  return false;
}

/** HTTP statuses of an embeddings endpoint that mean it is down or overloaded, not that the request was bad. */
const OUTAGE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/**
 * Whether an error means a dependency is out (Chroma, Redis or the embedder unreachable, or the
 * embedder overloaded): such a failure is no fault of the job, so it spends no attempt; the
 * worker hands the job back and waits for the dependency instead.
 */
export function isDependencyOutage(error: SluiceError): boolean {
  if (error.code === 'DEPENDENCY_UNAVAILABLE') return true;
  return error.code === 'EMBEDDING_FAILED' && OUTAGE_STATUSES.has(Number(error.details.status));
}

/**
 * Encodes an error as a BullMQ failure reason, `CODE: message`, so that the code survives Redis
 * and can be read back by {@link decodeFailure}.
 */
export function encodeFailure(error: SluiceError): string {
  return `${error.code}: ${error.message}`;
}

/** Reads a failure reason written by {@link encodeFailure}; anything else is `INTERNAL`. */
export function decodeFailure(reason: string | undefined): { code: ErrorCode; message: string } {
  const match = /^([A-Z_]+): ([\s\S]*)$/.exec(reason ?? '');
  if (match && isErrorCode(match[1])) return { code: match[1], message: match[2] ?? '' };
  return { code: 'INTERNAL', message: reason ?? 'unknown failure' };
}
