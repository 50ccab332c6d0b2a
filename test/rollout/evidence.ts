import type { JobStatus } from '@sluice/core';
import type { DocumentQueue } from '@sluice/core/queue';
import type { ChromaStore } from '@sluice/ingest';
import type { Pod } from './replica-set.js';

/** The worker's log messages the lab counts (services/worker and @sluice/core). */
export const LOG = {
  batchWritten: 'batch written',
  preempted: 'job preempted and returned to wait',
  stalled: 'job stalled (its lock expired) and was returned to wait',
  draining: 'draining',
  jobStarted: 'job started',
  jobEnded: ['job completed', 'job attempt failed', 'job deferred', 'job preempted and returned to wait'],
} as const;

/** What the workers' logs say happened. */
export interface WorkerEvidence {
  /** Chunks written, summed over every "batch written" line of every container. */
  readonly chunksWritten: number;
  /** The same, by job ID. */
  readonly writtenByJob: ReadonlyMap<string, number>;
  /** Times each job was preempted or running in a container that was SIGKILLed. */
  readonly interruptionsByJob: ReadonlyMap<string, number>;
  readonly preempted: number;
  readonly stalled: number;
  /** Jobs that were running when a worker began to drain, summed over drains. */
  readonly inFlightAtSigterm: number;
  /** Jobs running in a container when it was SIGKILLed (started, never ended there). */
  readonly interruptedByKill: number;
  /** The `release` values seen in log lines: old and new versions must both show. */
  readonly releases: readonly string[];
  /** Lines at level error or above, by message. */
  readonly errors: Readonly<Record<string, number>>;
  /** Containers that exited other than with code 0 or a SIGKILL the lab sent. */
  readonly unexpectedExits: readonly string[];
  /** For each preemption, how long until the job started again (on any worker). */
  readonly resumeAfterPreemptionMs: readonly number[];
  /** For each job running in a container the lab SIGKILLed, how long until it started again. */
  readonly resumeAfterKillMs: readonly number[];
}

/**
 * Reads the structured logs of every container of `pods`. Needs `LOG_LEVEL=debug` for the
 * per-batch lines. SIGKILLed containers count too: their lines reached the pipe before the kill.
 */
export function workerEvidence(pods: readonly Pod[]): WorkerEvidence {
  let chunksWritten = 0;
  const writtenByJob = new Map<string, number>();
  const interruptionsByJob = new Map<string, number>();
  const interrupted = (jobId: string) =>
    interruptionsByJob.set(jobId, (interruptionsByJob.get(jobId) ?? 0) + 1);
  let preempted = 0;
  let stalled = 0;
  let inFlightAtSigterm = 0;
  let interruptedByKill = 0;
  const releases = new Set<string>();
  const errors: Record<string, number> = {};
  const unexpectedExits: string[] = [];
  const starts = new Map<string, number[]>();
  const preemptions: { jobId: string; at: number }[] = [];
  const kills: { jobId: string; at: number }[] = [];
  for (const pod of pods) {
    pod.containers.forEach((container, index) => {
      const running = new Set<string>();
      for (const line of container.logs()) {
        const { msg, jobId } = line as { msg?: string; jobId?: string };
        const at = typeof line.time === 'string' ? Date.parse(line.time) : Number.NaN;
        if (typeof jobId === 'string' && msg === LOG.jobStarted)
          starts.set(jobId, [...(starts.get(jobId) ?? []), at]);
        // SPEC's 1 s is for jobs handed back on SIGTERM; a lease lost to a Redis outage waits
        // for the outage to end, like every other job.
        if (typeof jobId === 'string' && msg === LOG.preempted && line.reason !== 'lease-lost')
          preemptions.push({ jobId, at });
        if (typeof line.release === 'string') releases.add(line.release);
        if (typeof line.level === 'number' && line.level >= 50 && msg) {
          const err = line.err as { message?: unknown } | undefined;
          const key = typeof err?.message === 'string' ? `${msg}: ${err.message.slice(0, 120)}` : msg;
          errors[key] = (errors[key] ?? 0) + 1;
        }
        if (msg === LOG.batchWritten && typeof line.chunks === 'number') {
          chunksWritten += line.chunks;
          if (typeof jobId === 'string')
            writtenByJob.set(jobId, (writtenByJob.get(jobId) ?? 0) + line.chunks);
        } else if (msg === LOG.stalled) stalled += 1;
        else if (msg === LOG.draining && typeof line.inFlight === 'number')
          inFlightAtSigterm += line.inFlight;
        if (msg === LOG.preempted) {
          preempted += 1;
          if (typeof jobId === 'string') interrupted(jobId);
        }
        if (typeof jobId !== 'string') continue;
        if (msg === LOG.jobStarted) running.add(jobId);
        else if ((LOG.jobEnded as readonly string[]).includes(msg ?? '')) running.delete(jobId);
      }
      const { exitCode, signalCode } = container.child;
      const killedAt = pod.kills.get(container);
      if (killedAt !== undefined) for (const jobId of running) kills.push({ jobId, at: killedAt });
      if (signalCode === 'SIGKILL') {
        interruptedByKill += running.size;
        running.forEach(interrupted);
      } else if (exitCode !== 0 && exitCode !== null)
        unexpectedExits.push(`${pod.name}#${index} exited ${exitCode}`);
    });
  }
  const resumedAfter = (events: { jobId: string; at: number }[]) =>
    events.flatMap(({ jobId, at }) => {
      const next = (starts.get(jobId) ?? []).filter((t) => t > at).sort((a, b) => a - b)[0];
      return next === undefined ? [] : [next - at];
    });
  return {
    resumeAfterPreemptionMs: resumedAfter(preemptions),
    resumeAfterKillMs: resumedAfter(kills),
    chunksWritten,
    writtenByJob,
    interruptionsByJob,
    preempted,
    stalled,
    inFlightAtSigterm,
    interruptedByKill,
    releases: [...releases].sort(),
    errors,
    unexpectedExits,
  };
}

/** The expected chunks of one document: IDs and texts, as a clean run produces them. */
export interface ExpectedDocument {
  readonly docId: string;
  readonly ids: readonly string[];
  readonly texts: readonly string[];
  /** The error code a clean run ends with (e.g. `NO_TEXT` for front matter alone); no chunks then. */
  readonly failure?: string;
}

/** How the stored chunks compare with the expected ones. */
export interface ChunkComparison {
  readonly expected: number;
  readonly stored: number;
  /** Chunks stored more often than a clean run stores them (same document, same text). */
  readonly duplicates: number;
  /** Expected IDs that are not stored. */
  readonly missing: number;
  /** Stored IDs that a clean run does not produce (stale or overtaken versions, wrong IDs). */
  readonly extra: number;
  /** A few documents with missing or extra chunks, for the failure message. */
  readonly wrongDocuments: readonly string[];
}

/**
 * Reads every record of a collection (page by page) and compares it with the expected chunks of
 * `documents`. Documents the lab did not expect to be stored (hostile files) must have none.
 */
export async function compareChunks(
  store: ChromaStore,
  collection: string,
  documents: readonly ExpectedDocument[],
): Promise<ChunkComparison> {
  const handle = await store.collection(collection);
  const stored: { id: string; docId: string; text: string }[] = [];
  const pageSize = 1000;
  for (let offset = 0; ; offset += pageSize) {
    const page = await handle.get({ include: ['documents', 'metadatas'], limit: pageSize, offset });
    page.ids.forEach((id, i) => {
      const docId = page.metadatas[i]?.docId;
      stored.push({ id, docId: typeof docId === 'string' ? docId : '', text: page.documents[i] ?? '' });
    });
    if (page.ids.length < pageSize) break;
  }
  const expectedIds = new Set(documents.flatMap((d) => d.ids));
  const storedIds = new Set(stored.map((s) => s.id));
  const wrong = new Set<string>();
  let missing = 0;
  for (const doc of documents) {
    for (const id of doc.ids) {
      if (!storedIds.has(id)) {
        missing += 1;
        wrong.add(doc.docId);
      }
    }
  }
  let extra = 0;
  for (const record of stored) {
    if (!expectedIds.has(record.id)) {
      extra += 1;
      wrong.add(record.docId);
    }
  }
  const textCount = (docId: string, text: string) => `${docId}\u0000${text}`;
  const expectedTexts = new Map<string, number>();
  for (const doc of documents) {
    for (const text of doc.texts) {
      const key = textCount(doc.docId, text);
      expectedTexts.set(key, (expectedTexts.get(key) ?? 0) + 1);
    }
  }
  const storedTexts = new Map<string, number>();
  for (const record of stored) {
    const key = textCount(record.docId, record.text);
    storedTexts.set(key, (storedTexts.get(key) ?? 0) + 1);
  }
  let duplicates = stored.length - storedIds.size;
  for (const [key, count] of storedTexts)
    duplicates += Math.max(0, count - Math.max(1, expectedTexts.get(key) ?? 0));
  return {
    expected: expectedIds.size,
    stored: stored.length,
    duplicates,
    missing,
    extra,
    wrongDocuments: [...wrong].sort().slice(0, 10),
  };
}

/** How the submitted jobs ended. */
export interface JobOutcomes {
  readonly completed: number;
  /** Failed jobs by error code. */
  readonly failed: Readonly<Record<string, number>>;
  /** Jobs that are neither completed nor failed (or gone). */
  readonly unfinished: number;
  /** The most attempts any completed job spent (1 means it never failed an attempt). */
  readonly maxAttempts: number;
  /** Each job's final status, by job ID. */
  readonly statuses: ReadonlyMap<string, JobStatus | undefined>;
}

/** Reads the final status of each job. */
export async function jobOutcomes(documents: DocumentQueue, jobIds: Iterable<string>): Promise<JobOutcomes> {
  const statuses = new Map<string, JobStatus | undefined>();
  for (const jobId of new Set(jobIds)) statuses.set(jobId, await documents.status(jobId));
  let completed = 0;
  let unfinished = 0;
  let maxAttempts = 0;
  const failed: Record<string, number> = {};
  for (const status of statuses.values()) {
    if (status?.state === 'completed') {
      completed += 1;
      maxAttempts = Math.max(maxAttempts, status.attempts);
    } else if (status?.state === 'failed') {
      const code = status.error?.code ?? 'UNKNOWN';
      failed[code] = (failed[code] ?? 0) + 1;
    } else {
      unfinished += 1;
    }
  }
  return { completed, failed, unfinished, maxAttempts, statuses };
}

/** Jobs a pod's current container is running now, from its log lines (started, not yet ended). */
export function runningJobs(pod: Pod): Set<string> {
  const running = new Set<string>();
  for (const line of pod.container?.logs() ?? []) {
    const { msg, jobId } = line as { msg?: string; jobId?: string };
    if (typeof jobId !== 'string') continue;
    if (msg === LOG.jobStarted) running.add(jobId);
    else if ((LOG.jobEnded as readonly string[]).includes(msg ?? '')) running.delete(jobId);
  }
  return running;
}
