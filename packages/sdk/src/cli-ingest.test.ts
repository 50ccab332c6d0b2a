import { SluiceError } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { exitCodeOf, formatSummary, runIngest, type IngestReporter } from './cli-ingest.js';
import type { SluiceClient } from './sluice-client.js';

const files = ['a.md', 'b.md', 'c.pdf', 'd.md'].map((docId) => ({ path: `/in/${docId}`, docId }));
const silent: IngestReporter = { start: () => undefined, done: () => undefined, stop: () => undefined };
const options = { collection: 'docs', wait: true, concurrency: 1, metadata: {}, waitTimeoutMs: undefined };
const result = { docId: 'x', chunks: 2, embedded: 2, skipped: 0, updated: 0, deleted: 0 };

// A stand-in for the client: runIngest's bookkeeping is what is under test here.
function client(
  behaviour: (docId: string) => 'new' | 'again' | SluiceError,
): Pick<SluiceClient, 'ingest' | 'wait'> {
  return {
    ingest: async (input) => {
      const outcome = behaviour(input.docId!);
      if (outcome instanceof SluiceError) throw outcome;
      return {
        jobId: `job-${input.docId}`,
        docId: input.docId!,
        contentHash: 'h',
        deduplicated: outcome === 'again',
      };
    },
    wait: async (jobId) => {
      if (jobId === 'job-c.pdf') throw new SluiceError('INVALID_DOCUMENT', 'not a PDF');
      return result;
    },
  };
}

describe('runIngest and its summary', () => {
  it('counts completed, deduplicated and failed by code, and exits 1 on a failure', async () => {
    const summary = await runIngest(
      client((docId) => (docId === 'b.md' ? 'again' : 'new')),
      files,
      { ...options, signal: new AbortController().signal },
      silent,
    );
    const text = formatSummary(summary, { wait: true, skipped: 1, collection: 'docs' });
    expect(text).toContain(
      '4 files into "docs": 2 completed, 1 deduplicated, 1 failed, 1 skipped (unsupported type)',
    );
    expect(text).toContain('failed by code: INVALID_DOCUMENT 1');
    expect(text).toContain('  c.pdf: INVALID_DOCUMENT: not a PDF');
    expect(exitCodeOf(summary)).toBe(1);
  });

  it('stops sending after a failure every file would share, and says so', async () => {
    const summary = await runIngest(
      client(() => new SluiceError('UNAUTHENTICATED', 'bad token')),
      files,
      { ...options, signal: new AbortController().signal },
      silent,
    );
    expect(summary.outcomes.map((o) => o.kind)).toEqual(['failed', 'not-sent', 'not-sent', 'not-sent']);
    expect(formatSummary(summary, { wait: true, skipped: 0, collection: 'docs' })).toContain(
      'stopped early: UNAUTHENTICATED: bad token',
    );
    expect(exitCodeOf(summary)).toBe(1);
  });

  it('exits 0 when everything went through, 130 when interrupted', async () => {
    const ok = await runIngest(
      client(() => 'new'),
      files.slice(0, 2),
      { ...options, wait: false, signal: new AbortController().signal },
      silent,
    );
    expect(formatSummary(ok, { wait: false, skipped: 0, collection: 'docs' })).toContain(
      '2 enqueued, 0 deduplicated, 0 failed',
    );
    expect(exitCodeOf(ok)).toBe(0);
    const interrupted = await runIngest(
      client(() => 'new'),
      files,
      { ...options, signal: AbortSignal.abort() },
      silent,
    );
    expect(exitCodeOf(interrupted)).toBe(130);
  });
});
