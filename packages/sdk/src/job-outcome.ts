import { SluiceError, isErrorCode, type DocumentJobResult, type JobStatus } from '@sluice/core';
import { JobFailedError } from './errors.js';

/** What {@link SluiceClient.wait} takes. */
export interface WaitOptions {
  /** Gives up after this long with a `TIMEOUT` {@link SluiceError}; the job itself goes on. @defaultValue no limit */
  timeoutMs?: number;
  /** Stops waiting (the job goes on); `wait` rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Told the job's state at every change while it runs (pages parsed, chunks written). */
  onProgress?: (status: JobStatus) => void;
}

/**
 * The end of a job, if it has ended: its result when it completed; a {@link JobFailedError}
 * with the job's own code (`INVALID_DOCUMENT`, …) when it failed for good. `undefined` while it
 * is still waiting, active or delayed (a retry backoff or a preemption hand-back).
 * @throws JobFailedError when the job failed
 */
export function outcomeOf(status: JobStatus): DocumentJobResult | undefined {
  switch (status.state) {
    case 'completed':
      if (status.result === undefined) {
        throw new SluiceError('INTERNAL', `job ${status.jobId} completed without a readable result`);
      }
      return status.result;
    case 'failed': {
      const code = status.error?.code;
      throw new JobFailedError(
        isErrorCode(code) ? code : 'INTERNAL',
        status.error?.message ?? `job ${status.jobId} failed`,
        { jobId: status.jobId, attempts: status.attempts },
      );
    }
    case 'waiting':
    case 'active':
    case 'delayed':
    case 'prioritized':
    case 'waiting-children':
    case 'unknown':
      return undefined;
  }
}

/** A wait's deadline and the caller's signal as one signal, whose reason is what `wait` throws. */
export interface WaitDeadline {
  readonly signal: AbortSignal;
  /** Clears the timer. */
  dispose(): void;
}

/**
 * Combines `timeoutMs` and the caller's signal. On timeout the reason is a `TIMEOUT`
 * {@link SluiceError} naming the job; on the caller's abort it is the caller's reason.
 */
export function waitDeadline(jobId: string, options: WaitOptions): WaitDeadline {
  const timeout = new AbortController();
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(
          () =>
            timeout.abort(
              new SluiceError('TIMEOUT', `job ${jobId} did not finish within ${options.timeoutMs} ms`, {
                details: { jobId, timeoutMs: options.timeoutMs },
              }),
            ),
          options.timeoutMs,
        );
  return {
    signal: options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal,
    dispose: () => clearTimeout(timer),
  };
}

/**
 * How long a wait rides out an unreachable API or Redis (a rolling update, a failover, a
 * restart) before it fails with the last error. `timeoutMs` bounds the wait as a whole.
 */
export const WAIT_OUTAGE_LIMIT_MS = 60_000;

/** Decides, during a wait, which failures to ride out: transient ones, for a bounded time. */
export interface OutageTolerance {
  /** Whether to keep waiting after `err`; false once the outage outlasts the limit. */
  tolerate(err: unknown): boolean;
  /** The service answered again. */
  recovered(): void;
}

/** An {@link OutageTolerance} for failures `transient` accepts, up to `limitMs` in a row. */
export function outageTolerance(
  transient: (err: unknown) => boolean,
  limitMs: number = WAIT_OUTAGE_LIMIT_MS,
): OutageTolerance {
  let since: number | undefined;
  return {
    tolerate(err) {
      if (!transient(err)) return false;
      since ??= Date.now();
      return Date.now() - since < limitMs;
    },
    recovered() {
      since = undefined;
    },
  };
}
