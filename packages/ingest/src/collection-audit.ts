import type { AuditReport, JobStatus } from '@sluice/core';
import type { DocumentQueue, IndexedRecord } from '@sluice/core/queue';
import type { ChromaStore } from './chroma-store.js';
import { metadataDigest } from './chunk-plan.js';

/** What one document's drift needs. */
interface Drift {
  missing: number;
  orphans: number;
  stale: number;
  duplicates: number;
}

/** Options for {@link auditCollection}. */
export interface AuditOptions {
  store: ChromaStore;
  documents: Pick<DocumentQueue, 'indexedRecords' | 'latest' | 'status' | 'ingest' | 'remove'>;
  collection: string;
  /** Submit jobs that converge the drift. @defaultValue false */
  repair?: boolean;
  signal?: AbortSignal;
}

/** States in which a job has not finished yet. */
const UNFINISHED: ReadonlySet<JobStatus['state']> = new Set(['waiting', 'active', 'delayed', 'prioritized']);

/**
 * Compares what Chroma holds for a collection with Sluice's own record of what is indexed, chunk
 * by chunk: every recorded chunk must be stored with the metadata its version wrote, and nothing
 * else may be. Documents with a submission still in flight are left out (they are settling).
 *
 * With `repair`, each drifted document is submitted again: an indexed one runs its recorded
 * version again from its recorded payload (the run embeds what is missing, brings metadata up to
 * date and deletes everything else of the document); chunks of a document with no record are
 * removed by a delete job. Repairs go through the queue like any submission, so they take the
 * document's lock and lose to any later submission (last write wins).
 */
export async function auditCollection(options: AuditOptions): Promise<AuditReport> {
  const { store, documents, collection, signal } = options;
  const indexed = await documents.indexedRecords(collection);
  const drift = new Map<string, Drift>();
  const driftOf = (docId: string) => {
    let d = drift.get(docId);
    if (!d) drift.set(docId, (d = { missing: 0, orphans: 0, stale: 0, duplicates: 0 }));
    return d;
  };
  let chunks = 0;
  const seen = new Map<string, Set<string>>();
  // Texts of each document's recorded chunks, and its unrecorded ones (duplicates or orphans).
  const recordedTexts = new Map<string, Set<string>>();
  const unrecorded: { docId: string; text: string }[] = [];
  for await (const page of store.scan(collection, signal)) {
    for (const record of page) {
      chunks += 1;
      const docId = typeof record.metadata.docId === 'string' ? record.metadata.docId : '';
      const expected = indexed.get(docId)?.chunks[record.id];
      if (expected === undefined) {
        unrecorded.push({ docId, text: record.text });
        continue;
      }
      let ids = seen.get(docId);
      if (!ids) seen.set(docId, (ids = new Set()));
      ids.add(record.id);
      let texts = recordedTexts.get(docId);
      if (!texts) recordedTexts.set(docId, (texts = new Set()));
      texts.add(record.text);
      if (metadataDigest(record.metadata) !== expected) driftOf(docId).stale += 1;
    }
  }
  for (const { docId, text } of unrecorded) {
    if (recordedTexts.get(docId)?.has(text)) driftOf(docId).duplicates += 1;
    else driftOf(docId).orphans += 1;
  }
  for (const [docId, record] of indexed) {
    const found = seen.get(docId)?.size ?? 0;
    const missing = Object.keys(record.chunks).length - found;
    if (missing > 0) driftOf(docId).missing += missing;
  }

  const report: AuditReport = {
    documents: indexed.size,
    chunks,
    missing: 0,
    orphans: 0,
    stale: 0,
    duplicates: 0,
    inFlight: 0,
    repairJobs: [],
  };
  for (const [docId, d] of drift) {
    const record = indexed.get(docId);
    if (await settling(documents, collection, docId, record)) {
      report.inFlight += 1;
      continue;
    }
    report.missing += d.missing;
    report.orphans += d.orphans;
    report.stale += d.stale;
    report.duplicates += d.duplicates;
    if (!options.repair) continue;
    const { jobId } = record
      ? await documents.ingest({ ...record.payload, repair: true }, { force: true })
      : await documents.remove({ collection, docId });
    report.repairJobs.push(jobId);
  }
  return report;
}

/** Whether a later submission of the document than what it indexed is still being processed. */
async function settling(
  documents: AuditOptions['documents'],
  collection: string,
  docId: string,
  record: IndexedRecord | undefined,
): Promise<boolean> {
  const latest = await documents.latest(collection, docId);
  if (!latest || latest.jobId === record?.jobId) return false;
  const status = await documents.status(latest.jobId);
  return status !== undefined && UNFINISHED.has(status.state);
}

/** The drift an audit reports, summed: 0 means Chroma holds exactly what Sluice indexed. */
export function driftOf(report: AuditReport): number {
  return report.missing + report.orphans + report.stale + report.duplicates;
}
