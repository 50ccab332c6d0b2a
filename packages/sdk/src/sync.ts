import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { SluiceError, toSluiceError, type DocumentList, type ErrorCode } from '@sluice/core';
import { expandInputs, type InputFile } from './file-inputs.js';
import type { DocumentMetadata } from './document-input.js';
import type { SluiceClient } from './sluice-client.js';

/**
 * The metadata key that marks a document as a sync's own: its value names the sync (`source`).
 * A sync changes or removes only documents that carry its own name here.
 */
export const SYNC_METADATA_KEY = 'sluiceSync';

/** What {@link syncFolder} takes. */
export interface SyncOptions {
  collection: string;
  /** The folder the collection mirrors; docIds are the paths relative to it, with `/`. */
  dir: string;
  /** Remove this sync's documents whose files are gone. @defaultValue false */
  delete?: boolean;
  /** Plan only: report what would be done, change nothing. @defaultValue false */
  dryRun?: boolean;
  /** Follow every job to its end; failures are then the jobs' own. @defaultValue false */
  wait?: boolean;
  /**
   * Names this sync, in each of its documents' metadata ({@link SYNC_METADATA_KEY}): two folders
   * synced into one collection need two names. @defaultValue the folder's name
   */
  source?: string;
  /** Metadata for every document, besides the sync's name. @defaultValue none */
  metadata?: DocumentMetadata;
  /** Files and removals in flight at once. @defaultValue 8 */
  concurrency?: number;
  /** Per job, with `wait`. @defaultValue no limit */
  waitTimeoutMs?: number;
  /** Stops the sync; what was sent goes on, and running it again finishes the job. */
  signal?: AbortSignal;
  /** Told about every document as its fate is known. */
  onAction?: (action: SyncAction) => void;
}

/** What a sync does to one document. */
export interface SyncAction {
  kind: 'add' | 'change' | 'delete' | 'unchanged' | 'failed';
  docId: string;
  /** The job that carries it out. */
  jobId?: string;
  /** Why it failed: the request's, or the job's (with `wait`, or when this version's job had failed before). */
  error?: { code: ErrorCode; message: string };
  /** A dry run: planned, not done. */
  planned?: boolean;
}

/** What a sync did, by kind: the last line of `sluice sync --json`. */
export interface SyncSummary {
  added: number;
  changed: number;
  deleted: number;
  unchanged: number;
  failed: number;
}

type Step =
  | { kind: 'add' | 'change'; file: InputFile }
  | { kind: 'delete'; docId: string }
  | { kind: 'unchanged'; docId: string }
  | { kind: 'failed'; docId: string; error: { code: ErrorCode; message: string } };

/**
 * Makes a collection mirror a folder: files that are new or changed (content or metadata) are
 * ingested, and with `delete` the documents whose files are gone are removed. Only documents this
 * sync created (their metadata names it, {@link SYNC_METADATA_KEY}) are ever changed or removed;
 * a file whose docId belongs to another document counts as failed and is left alone.
 *
 * Idempotent and resumable: what is unchanged is not sent, and a version sent again while its job
 * is still queued joins that job (Sluice deduplicates submissions), so an interrupted sync run
 * again finishes the job, and a sync with nothing changed enqueues nothing.
 * @throws SluiceError `INVALID_REQUEST` when `dir` is not a folder; the errors of `list`
 */
export async function syncFolder(
  client: Pick<SluiceClient, 'ingest' | 'wait' | 'remove' | 'list' | 'status'>,
  options: SyncOptions,
): Promise<SyncSummary> {
  const dir = resolve(options.dir);
  if (!(await stat(dir).catch(() => undefined))?.isDirectory()) {
    throw new SluiceError('INVALID_REQUEST', `${options.dir} is not a folder`, { details: { field: 'dir' } });
  }
  const source = options.source ?? basename(dir);
  const metadata: DocumentMetadata = { ...options.metadata, [SYNC_METADATA_KEY]: source };
  const [{ files }, listed] = await Promise.all([
    expandInputs([dir], dir),
    client.list({ collection: options.collection, ...(options.signal ? { signal: options.signal } : {}) }),
  ]);
  const steps = await plan(files, listed, metadata, source, options.delete ?? false);

  const summary: SyncSummary = { added: 0, changed: 0, deleted: 0, unchanged: 0, failed: 0 };
  const count = (action: SyncAction) => {
    const key = (
      {
        add: 'added',
        change: 'changed',
        delete: 'deleted',
        unchanged: 'unchanged',
        failed: 'failed',
      } as const
    )[action.kind];
    summary[key] += 1;
    options.onAction?.(action);
  };
  const work = steps.filter((s) => s.kind === 'add' || s.kind === 'change' || s.kind === 'delete');
  for (const step of steps) {
    if (step.kind === 'unchanged') count({ kind: 'unchanged', docId: step.docId });
    if (step.kind === 'failed') count({ kind: 'failed', docId: step.docId, error: step.error });
  }
  if (options.dryRun) {
    for (const step of work) count({ kind: step.kind, docId: docIdOf(step), planned: true });
    return summary;
  }

  const run = async (step: Extract<Step, { kind: 'add' | 'change' | 'delete' }>): Promise<SyncAction> => {
    const docId = docIdOf(step);
    let jobId: string | undefined;
    try {
      const signal = options.signal ? { signal: options.signal } : {};
      const accepted =
        step.kind === 'delete'
          ? await client.remove({ collection: options.collection, docId, ...signal })
          : await client.ingest({
              collection: options.collection,
              docId,
              file: step.file.path,
              metadata,
              ...signal,
            });
      jobId = accepted.jobId;
      if (!options.wait && 'deduplicated' in accepted && accepted.deduplicated) {
        // This version's job exists already: a file that failed before (for good) is reported as
        // failed again, with its code, not as added.
        const status = await client.status(jobId, signal);
        if (status.state === 'failed') {
          return {
            kind: 'failed',
            docId,
            jobId,
            error: status.error
              ? { code: status.error.code as ErrorCode, message: status.error.message }
              : { code: 'INTERNAL', message: 'the job failed' },
          };
        }
      }
      if (options.wait) {
        await client.wait(jobId, {
          ...signal,
          ...(options.waitTimeoutMs === undefined ? {} : { timeoutMs: options.waitTimeoutMs }),
        });
      }
      return { kind: step.kind, docId, jobId };
    } catch (err) {
      if (options.signal?.aborted) throw err;
      const error = toSluiceError(err);
      return {
        kind: 'failed',
        docId,
        ...(jobId ? { jobId } : {}),
        error: { code: error.code, message: error.message },
      };
    }
  };
  let next = 0;
  const lane = async () => {
    while (next < work.length) {
      options.signal?.throwIfAborted();
      count(await run(work[next++] as Extract<Step, { kind: 'add' | 'change' | 'delete' }>));
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, work.length) }, lane));
  return summary;
}

/** What to do with each file and each listed document. */
async function plan(
  files: readonly InputFile[],
  listed: DocumentList,
  metadata: DocumentMetadata,
  source: string,
  deleteMissing: boolean,
): Promise<Step[]> {
  const stored = new Map(listed.documents.map((d) => [d.docId, d]));
  const steps: Step[] = [];
  for (const file of files) {
    const document = stored.get(file.docId);
    if (!document) {
      steps.push({ kind: 'add', file });
      continue;
    }
    if (document.metadata?.[SYNC_METADATA_KEY] !== source) {
      steps.push({
        kind: 'failed',
        docId: file.docId,
        error: {
          code: 'INVALID_REQUEST',
          message: `a document ${file.docId} exists that this sync (${source}) did not create; left alone`,
        },
      });
      continue;
    }
    const same =
      document.contentHash === (await fileHash(file.path)) && sameMetadata(document.metadata, metadata);
    steps.push(same ? { kind: 'unchanged', docId: file.docId } : { kind: 'change', file });
  }
  if (deleteMissing) {
    const local = new Set(files.map((f) => f.docId));
    for (const document of listed.documents) {
      if (document.metadata?.[SYNC_METADATA_KEY] === source && !local.has(document.docId)) {
        steps.push({ kind: 'delete', docId: document.docId });
      }
    }
  }
  return steps;
}

function docIdOf(step: Step): string {
  return 'file' in step ? step.file.docId : step.docId;
}

function sameMetadata(
  a: Readonly<Record<string, unknown>> | undefined,
  b: Readonly<Record<string, unknown>>,
): boolean {
  const left = Object.entries(a ?? {});
  return left.length === Object.keys(b).length && left.every(([key, value]) => b[key] === value);
}

/** The sha256 of a file, streamed: what Sluice calls its contentHash. */
function fileHash(path: string): Promise<string> {
  return new Promise((resolveHash, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolveHash(hash.digest('hex')));
  });
}
