import { toSluiceError, type DocumentJobResult, type ErrorCode, type JobStatus } from '@sluice/core';
import cliProgress from 'cli-progress';
import type { InputFile } from './file-inputs.js';
import type { DocumentMetadata } from './document-input.js';
import type { SluiceClient } from './sluice-client.js';

/** What one `sluice ingest` run does. */
export interface IngestRunOptions {
  collection: string;
  /** Follow every job to its end; failures are then the jobs' own codes. */
  wait: boolean;
  /** Files in flight at once. */
  concurrency: number;
  metadata: DocumentMetadata;
  /** Per job, with `wait`. */
  waitTimeoutMs: number | undefined;
  /** Ctrl-C: stop sending and waiting. */
  signal: AbortSignal;
}

/** What became of one file. */
export type FileOutcome = { file: InputFile } & (
  | {
      /** `enqueued`: new work queued (no `wait`); `completed`: new work done (`wait`). */
      kind: 'enqueued' | 'completed' | 'deduplicated';
      jobId: string;
      result?: DocumentJobResult;
    }
  | { kind: 'failed'; code: ErrorCode; message: string; jobId?: string }
  /** Not sent: the run was stopped or interrupted first. */
  | { kind: 'not-sent' }
  /** Sent, but the run was interrupted before the job ended; the job goes on. */
  | { kind: 'unfinished'; jobId: string }
);

/** The outcome of a run. */
export interface IngestSummary {
  outcomes: FileOutcome[];
  /** Set when a failure that every further file would share (auth, an unreachable server) stopped the run. */
  stoppedBy?: { code: ErrorCode; message: string };
  /** Ctrl-C stopped the run. */
  interrupted: boolean;
}

/** Shows a run's progress. */
export interface IngestReporter {
  start(total: number): void;
  /** A job followed with `wait` reported progress (its event stream). */
  progress?(jobId: string, status: JobStatus): void;
  done(outcome: FileOutcome, counts: Readonly<Record<FileOutcome['kind'], number>>): void;
  stop(): void;
}

// Every further file would fail the same way: stop instead of failing them one by one.
const RUN_STOPPING_CODES: ReadonlySet<ErrorCode> = new Set([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'DEPENDENCY_UNAVAILABLE',
]);

/** Ingests the files with bounded concurrency, reporting each as it ends. */
export async function runIngest(
  client: Pick<SluiceClient, 'ingest' | 'wait'>,
  files: readonly InputFile[],
  options: IngestRunOptions,
  reporter: IngestReporter,
): Promise<IngestSummary> {
  const outcomes: FileOutcome[] = [];
  const counts: Record<FileOutcome['kind'], number> = {
    enqueued: 0,
    completed: 0,
    deduplicated: 0,
    failed: 0,
    'not-sent': 0,
    unfinished: 0,
  };
  let stoppedBy: IngestSummary['stoppedBy'];
  let next = 0;

  const one = async (file: InputFile): Promise<FileOutcome> => {
    let jobId: string | undefined;
    try {
      const accepted = await client.ingest({
        collection: options.collection,
        docId: file.docId,
        file: file.path,
        metadata: options.metadata,
        signal: options.signal,
      });
      jobId = accepted.jobId;
      const again = accepted.deduplicated ? ('deduplicated' as const) : undefined;
      if (!options.wait) return { file, kind: again ?? 'enqueued', jobId };
      const result = await client.wait(jobId, {
        signal: options.signal,
        onProgress: (status) => reporter.progress?.(accepted.jobId, status),
        ...(options.waitTimeoutMs === undefined ? {} : { timeoutMs: options.waitTimeoutMs }),
      });
      return { file, kind: again ?? 'completed', jobId, result };
    } catch (err) {
      if (options.signal.aborted) {
        return jobId === undefined ? { file, kind: 'not-sent' } : { file, kind: 'unfinished', jobId };
      }
      const error = toSluiceError(err);
      if (jobId === undefined && RUN_STOPPING_CODES.has(error.code)) {
        stoppedBy ??= { code: error.code, message: error.message };
      }
      return { file, kind: 'failed', code: error.code, message: error.message, ...(jobId ? { jobId } : {}) };
    }
  };

  const lane = async () => {
    while (next < files.length) {
      const file = files[next++]!;
      const outcome =
        stoppedBy !== undefined || options.signal.aborted
          ? { file, kind: 'not-sent' as const }
          : await one(file);
      outcomes.push(outcome);
      counts[outcome.kind]++;
      reporter.done(outcome, counts);
    }
  };

  reporter.start(files.length);
  try {
    await Promise.all(Array.from({ length: Math.min(options.concurrency, files.length) }, lane));
  } finally {
    reporter.stop();
  }
  return { outcomes, ...(stoppedBy ? { stoppedBy } : {}), interrupted: options.signal.aborted };
}

/** Plain lines, one per file: for logs, pipes and CI. */
export function lineReporter(out: NodeJS.WritableStream): IngestReporter {
  return {
    start: () => undefined,
    done: (outcome) => {
      const line = describeOutcome(outcome);
      if (line) out.write(`${line}\n`);
    },
    stop: () => undefined,
  };
}

/**
 * A progress bar with counts and ETA, for a terminal. With `wait`, it also counts the chunks
 * written so far, live from the jobs' event streams.
 */
export function progressBarReporter(out: NodeJS.WritableStream, wait: boolean): IngestReporter {
  const done = wait ? 'completed' : 'enqueued';
  const chunks = wait ? ' | {chunks} chunks written' : '';
  const bar = new cliProgress.SingleBar(
    {
      format: `{bar} {value}/{total} files${chunks} | ETA {eta_formatted} | {done} ${done}, {deduplicated} deduplicated, {failed} failed`,
      stream: out,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  // Chunks written: by the jobs that ended, plus what the running ones reported so far.
  let finished = 0;
  const running = new Map<string, number>();
  const written = () => finished + [...running.values()].reduce((sum, n) => sum + n, 0);
  return {
    start: (total) => bar.start(total, 0, { done: 0, deduplicated: 0, failed: 0, chunks: 0 }),
    progress: (jobId, status) => {
      const progress = status.progress;
      const now = typeof progress === 'object' ? Number(progress.chunksWritten ?? 0) : 0;
      running.set(jobId, now);
      bar.update({ chunks: written() });
    },
    done: (outcome, counts) => {
      if ('jobId' in outcome && outcome.jobId) running.delete(outcome.jobId);
      if ('result' in outcome && outcome.result) finished += outcome.result.embedded;
      bar.increment(1, {
        done: counts[done],
        deduplicated: counts.deduplicated,
        failed: counts.failed,
        chunks: written(),
      });
    },
    stop: () => bar.stop(),
  };
}

function describeOutcome(outcome: FileOutcome): string | undefined {
  const { docId } = outcome.file;
  switch (outcome.kind) {
    case 'enqueued':
    case 'deduplicated':
    case 'completed': {
      const chunks = outcome.result ? ` (${chunkSummary(outcome.result)})` : ` ${outcome.jobId}`;
      return `${outcome.kind} ${docId}${chunks}`;
    }
    case 'failed':
      return `failed ${docId}: ${outcome.code}: ${oneLine(outcome.message)}`;
    case 'not-sent':
    case 'unfinished':
      return undefined;
  }
}

function chunkSummary(result: DocumentJobResult): string {
  const pages = result.pages === undefined ? '' : `, ${result.pages} pages`;
  return `${result.chunks} chunks, ${result.embedded} embedded${pages}`;
}

/** The closing summary: counts, then failures grouped by code with their files. */
export function formatSummary(
  summary: IngestSummary,
  context: { wait: boolean; skipped: number; collection: string },
): string {
  const count = (kind: FileOutcome['kind']) => summary.outcomes.filter((o) => o.kind === kind).length;
  const failures = summary.outcomes.filter(
    (o): o is Extract<FileOutcome, { kind: 'failed' }> => o.kind === 'failed',
  );
  const first = context.wait ? `${count('completed')} completed` : `${count('enqueued')} enqueued`;
  const parts = [first, `${count('deduplicated')} deduplicated`, `${failures.length} failed`];
  if (count('unfinished') > 0) parts.push(`${count('unfinished')} unfinished`);
  if (count('not-sent') > 0) parts.push(`${count('not-sent')} not sent`);
  if (context.skipped > 0) parts.push(`${context.skipped} skipped (unsupported type)`);
  const lines = [`${summary.outcomes.length} files into "${context.collection}": ${parts.join(', ')}`];
  if (failures.length > 0) {
    const byCode = new Map<string, number>();
    for (const failure of failures) byCode.set(failure.code, (byCode.get(failure.code) ?? 0) + 1);
    lines.push(`failed by code: ${[...byCode].map(([code, n]) => `${code} ${n}`).join(', ')}`);
    const shown = failures.slice(0, 50);
    for (const f of shown) lines.push(`  ${f.file.docId}: ${f.code}: ${oneLine(f.message)}`);
    if (failures.length > shown.length) lines.push(`  … and ${failures.length - shown.length} more`);
  }
  if (summary.stoppedBy) {
    lines.push(`stopped early: ${summary.stoppedBy.code}: ${oneLine(summary.stoppedBy.message)}`);
  }
  if (summary.interrupted) lines.push('interrupted: the jobs already queued go on');
  return `${lines.join('\n')}\n`;
}

/** 0 when every file went through; 1 when any failed or was not sent; 130 after Ctrl-C. */
export function exitCodeOf(summary: IngestSummary): number {
  if (summary.interrupted) return 130;
  return summary.outcomes.some(
    (o) => o.kind !== 'enqueued' && o.kind !== 'completed' && o.kind !== 'deduplicated',
  )
    ? 1
    : 0;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 299)}…` : flat;
}
