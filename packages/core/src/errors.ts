/**
 * Every failure a caller must tell apart has one code here. The table is the single place that
 * says whether a code is worth retrying and which HTTP status it maps to.
 */
export const ERROR_CODES = {
  /** A payload, collection name, docId or field failed validation. */
  INVALID_REQUEST: { retryable: false, status: 400 },
  /** Missing, malformed or expired credentials. */
  UNAUTHENTICATED: { retryable: false, status: 401 },
  /** Valid credentials that do not cover the resource. */
  FORBIDDEN: { retryable: false, status: 403 },
  /** The thing asked for does not exist. */
  NOT_FOUND: { retryable: false, status: 404 },
  /** The upload exceeds `MAX_UPLOAD_BYTES`. */
  TOO_LARGE: { retryable: false, status: 413 },
  /** The bytes are of a type Sluice does not ingest. */
  UNSUPPORTED_TYPE: { retryable: false, status: 415 },
  /** Corrupt, truncated or non-PDF bytes sent as PDF, or a document that cannot be read. */
  INVALID_DOCUMENT: { retryable: false, status: 422 },
  /** A PDF that needs a password to open. */
  ENCRYPTED_DOCUMENT: { retryable: false, status: 422 },
  /** A document without extractable text (image-only PDF, empty file). */
  NO_TEXT: { retryable: false, status: 422 },
  /** Parsing ran past `PARSE_TIMEOUT_MS` or past its memory cap and was stopped. */
  PARSE_TIMEOUT: { retryable: false, status: 422 },
  /** The uploaded file named by the job is no longer in `STORAGE_DIR`. */
  FILE_MISSING: { retryable: false, status: 422 },
  /** Configuration is invalid; the process stops before doing anything. */
  CONFIG_INVALID: { retryable: false, status: 500 },
  /** A dependency (Redis, Chroma, an embeddings endpoint) did not answer. */
  DEPENDENCY_UNAVAILABLE: { retryable: true, status: 503 },
  /** An embeddings endpoint answered with an error. */
  EMBEDDING_FAILED: { retryable: true, status: 502 },
  /** The job was stopped before it finished (drain deadline, shutdown); it is resumed elsewhere. */
  PREEMPTED: { retryable: true, status: 503 },
  /** The wait for a job ran past its deadline. */
  TIMEOUT: { retryable: true, status: 504 },
  /** The process is shutting down and takes no new work. */
  SHUTTING_DOWN: { retryable: true, status: 503 },
  /** Anything not classified above; retried, since it may be transient. */
  INTERNAL: { retryable: true, status: 500 },
} as const satisfies Record<string, { retryable: boolean; status: number }>;

/** One of the codes in {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

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
