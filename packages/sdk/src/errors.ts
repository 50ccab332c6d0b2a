import { SluiceError, type ErrorCode, type SluiceErrorOptions } from '@sluice/core';

/** Options for {@link ApiError}. */
export interface ApiErrorOptions extends SluiceErrorOptions {
  /** The HTTP status the API answered with. */
  httpStatus: number;
  /** The request field the API named as wrong (400 answers). */
  field?: string | undefined;
}

/**
 * The HTTP API answered with an error. `code` and `message` are the server's own
 * (`{ error: { code, message, field? } }`); when the answer was not in that form (a proxy's
 * 502 page, say) the code is derived from the HTTP status.
 */
export class ApiError extends SluiceError {
  /** The HTTP status of the answer (may differ from {@link SluiceError.status}, which is the code's). */
  readonly httpStatus: number;
  /** The offending request field, when the API named one. */
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, options: ApiErrorOptions) {
    super(code, message, {
      ...options,
      details: {
        ...options.details,
        httpStatus: options.httpStatus,
        ...(options.field === undefined ? {} : { field: options.field }),
      },
    });
    this.httpStatus = options.httpStatus;
    this.field = options.field;
  }
}

/** Options for {@link JobFailedError}. */
export interface JobFailedErrorOptions extends SluiceErrorOptions {
  /** The failed job. */
  jobId: string;
  /** Attempts the job made before it failed for good. */
  attempts: number;
}

/**
 * A job ended in BullMQ's `failed` state. `code` is the job's own failure code
 * (`INVALID_DOCUMENT`, `ENCRYPTED_DOCUMENT`, `PARSE_TIMEOUT`, …), so callers can tell a bad
 * document from a request that never got through.
 */
export class JobFailedError extends SluiceError {
  /** The failed job. */
  readonly jobId: string;
  /** Attempts the job made before it failed for good. */
  readonly attempts: number;

  constructor(code: ErrorCode, message: string, options: JobFailedErrorOptions) {
    super(code, message, {
      ...options,
      details: { ...options.details, jobId: options.jobId, attempts: options.attempts },
    });
    this.jobId = options.jobId;
    this.attempts = options.attempts;
  }
}
