import { SluiceError } from '@sluice/core';
import type { ParsePool } from './parse-pool.js';
import type { ParseKind, ParseOutput } from './parse-protocol.js';

/** Limits for a parse (`loadPdf`, `loadDocx`, `loadHtml`). */
export interface ParseLoadOptions {
  /**
   * A parse that runs longer is stopped and fails with `PARSE_TIMEOUT` (the worker passes
   * `PARSE_TIMEOUT_MS`).
   * @defaultValue `120_000`
   */
  timeoutMs?: number;
  /**
   * Memory cap of the parse in MiB: the parse thread's V8 heap limit, and the most the process's
   * resident memory may grow while the parse runs. Past it the parse fails with `PARSE_TIMEOUT`.
   * @defaultValue `1024`
   */
  maxMemoryMb?: number;
  /**
   * DOCX: the most the archive's XML parts may inflate to, in MiB. A DOCX is a ZIP archive, and a
   * small one can inflate to gigabytes (a "zip bomb"): its parts are inflated as a stream and
   * counted before the parser sees them, and past this the parse fails with `TOO_LARGE`. The XML of
   * a 1,000-page document is about 10–30 MiB; the parser's document tree takes several times the
   * XML's size, which is why the default is a sixteenth of the memory cap.
   * @defaultValue `maxMemoryMb / 16` (64 at the default memory cap)
   */
  maxUnzippedMb?: number;
  /** Aborting stops the parse at once; the promise rejects with `PREEMPTED` (or the signal's reason, when it is a `SluiceError`). */
  signal?: AbortSignal;
  /** PDF: called after each page is extracted, with the page number and the page count, for job progress. */
  onPage?: (page: number, pages: number) => void;
}

/** {@link ParseLoadOptions} with every default applied. */
export type ResolvedParseLoadOptions = Required<
  Pick<ParseLoadOptions, 'timeoutMs' | 'maxMemoryMb' | 'maxUnzippedMb'>
> &
  Pick<ParseLoadOptions, 'signal' | 'onPage'>;

/** Resolves {@link ParseLoadOptions} once into a fully defaulted value. */
export function resolveParseLoadOptions(options: ParseLoadOptions = {}): ResolvedParseLoadOptions {
  const maxMemoryMb = options.maxMemoryMb ?? 1024;
  const resolved = {
    ...options,
    timeoutMs: options.timeoutMs ?? 120_000,
    maxMemoryMb,
    maxUnzippedMb: options.maxUnzippedMb ?? Math.max(1, Math.floor(maxMemoryMb / 16)),
  };
  if (!(resolved.timeoutMs > 0))
    throw new RangeError(`timeoutMs must be positive, got ${resolved.timeoutMs}`);
  if (!(resolved.maxMemoryMb >= 16))
    throw new RangeError(`maxMemoryMb must be at least 16, got ${resolved.maxMemoryMb}`);
  if (!(resolved.maxUnzippedMb > 0))
    throw new RangeError(`maxUnzippedMb must be positive, got ${resolved.maxUnzippedMb}`);
  return resolved;
}

/**
 * Runs one parse in `pool`, on a copy of `bytes` (the caller's bytes are never detached).
 * @throws SluiceError `INVALID_DOCUMENT` for zero bytes; whatever {@link ParsePool.parse} throws.
 */
export async function parseInPool(
  pool: ParsePool,
  kind: ParseKind,
  bytes: Uint8Array,
  options: ParseLoadOptions,
): Promise<ParseOutput> {
  const resolved = resolveParseLoadOptions(options);
  if (bytes.byteLength === 0) {
    throw new SluiceError('INVALID_DOCUMENT', `the ${kind.toUpperCase()} is empty (zero bytes)`);
  }
  // A copy of exactly these bytes is transferred. Not `bytes.slice().buffer`: on a Node Buffer
  // slice() is a view, and `.buffer` may be the shared allocation pool holding other data.
  const data = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(data).set(bytes);
  const { maxUnzippedMb, ...limits } = resolved;
  return pool.parse({ kind, data }, { ...limits, maxUnzippedBytes: maxUnzippedMb * 1024 * 1024 });
}
