/**
 * Smoke run of the benchmarks on the tiniest input: every part runs end to end and its result
 * has the documented shape, and the invariants that hold whatever the speed hold. Timings are
 * never asserted (this machine is shared and noisy); `pnpm bench` measures them.
 */
import { describe, expect, inject, it } from 'vitest';
import { EMBED_CONTENDERS, EMBED_PRESETS, runEmbedBench } from './embed.js';
import { CONTENDERS, runIngestBench } from './ingest.js';
import { runProfile } from './ingest-profile.js';

const tiny = { markdownStride: 150, markdownLimit: 3, pdfs: ['crazyones-pdfa.pdf'] };

describe('benchmarks, smoke run', () => {
  it('ingest: all contenders, re-ingests, crash-and-rerun, memory and Redis commands on four documents', async () => {
    const r = await runIngestBench({
      label: 'smoke',
      corpus: tiny,
      rounds: 1,
      tutorialStride: 1,
      crashStride: 1,
      changedShare: 0.05,
      memoryCorpus: tiny,
      memoryPasses: 2,
      memoryPdfs: ['crazyones-pdfa.pdf'],
      parts: ['throughput', 'crash', 'memory', 'redis'],
      redisUrl: inject('redisUrl'),
      chromaUrl: inject('chromaUrl'),
      // A SIGKILLed worker's jobs come back within about 3 s instead of 14.
      workerEnv: { LOCK_DURATION_MS: '2000', STALLED_INTERVAL_MS: '1000' },
      crashWorkers: 1,
      write: false,
      log: () => undefined,
    });

    expect(r.corpus).toMatchObject({ documents: 4, markdown: 3, pdfs: 1, changedDocuments: 1 });
    expect(r.corpus.chunks).toBeGreaterThan(0);
    for (const contender of CONTENDERS) {
      expect(r.firstIngest[contender]?.median, contender).toBeGreaterThan(0);
      expect(r.firstIngest[contender]?.samples).toHaveLength(1);
    }
    expect(Object.keys(r.ratios)).toEqual(
      expect.arrayContaining([
        'sluiceVsCeiling',
        'sluiceVsTutorial',
        'sluiceVsScript',
        'sluiceVsLangchain',
        'redisCommandsPerDocument',
        'sluice 2 workers/1 worker',
      ]),
    );

    // Re-ingest of an unchanged corpus: no job runs, nothing is embedded, written or deleted.
    expect(r.reingestUnchanged?.sluice).toMatchObject({ embedded: 0, written: 0, deleted: 0 });
    // 5 % changed: Sluice embeds exactly the new chunks and deletes exactly the old ones.
    expect(r.reingestChanged?.sluice.embedded).toBe(r.corpus.changedChunks.embedded);
    expect(r.reingestChanged?.sluice.deleted).toBe(r.corpus.changedChunks.deleted);
    // After the changed re-ingest both incremental contenders hold exactly the new version.
    for (const who of ['sluice-1', 'langchain'] as const) {
      expect(r.finalAudit[who], who).toMatchObject({ duplicates: 0, missing: 0, stale: 0, orphans: 0 });
    }

    // Crash and rerun: Sluice leaves exactly the clean run's chunks; the tutorial's random IDs
    // store again everything the killed run had stored.
    expect(r.crash.sluice?.audit).toMatchObject({ duplicates: 0, missing: 0, stale: 0 });
    expect(r.crash.sluice?.audit.records).toBe(r.corpus.crashChunks);
    // (An `add` in flight at the kill may land after the count, hence at least.)
    expect(r.crash.tutorial?.audit.duplicates).toBeGreaterThanOrEqual(r.crash.tutorial!.recordsAtKill);
    expect(r.crash.langchain?.audit.missing).toBe(0);

    expect(r.memory.pdfs).toHaveLength(1);
    expect(r.memory.pdfs[0]!.peakMiB).toBeGreaterThan(0);
    expect(r.memory.longRun).toMatchObject({ documents: 8, passes: 2, failed: 0 });
    expect(r.table).toContain('ratio Sluice/ceiling');

    // Redis commands, on a Redis of the run's own: the worker's, the SDK's and the scripts' apart.
    expect(r.redisCommands).toMatchObject({ documents: 4, chunks: r.corpus.chunks });
    expect(r.redisCommands!.perDocument.worker).toBeGreaterThan(0);
    expect(r.redisCommands!.perDocument.sdk).toBeGreaterThan(0);
    expect(r.redisCommands!.byConnection).toHaveProperty('sluice-worker');
    expect(r.ratios.redisCommandsPerDocument?.value).toBe(r.redisCommands!.perDocument.worker);
  }, 120_000);

  it('profile: stage costs, Chroma write shapes, an instrumented worker and a CPU profile', async () => {
    const r = (await runProfile({
      quick: true,
      write: false,
      log: () => undefined,
      corpus: tiny,
      variants: [{ concurrency: 4, coalesceWrites: true, coalesceReads: true }],
      rounds: 1,
      cpuProfile: true,
      redisUrl: inject('redisUrl'),
      chromaUrl: inject('chromaUrl'),
    })) as {
      stageCosts: { chunks: number; stages: Record<string, unknown> };
      workerRuns: { chunks: number; stages: Record<string, { calls: number }> }[];
      cpuProfile: { threads: Record<string, number>[] };
    };
    expect(r.stageCosts.stages).toHaveProperty('embed');
    expect(r.stageCosts.stages).toHaveProperty('split markdown');
    expect(r.workerRuns[0]!.chunks).toBe(r.stageCosts.chunks);
    expect(r.workerRuns[0]!.stages['chroma upsert']!.calls).toBe(4);
    expect(r.cpuProfile.threads.length).toBeGreaterThan(0);
  }, 90_000);

  it('embed: every contender against its own rate-limited endpoint, counts consistent, nothing failed', async () => {
    const r = await runEmbedBench({
      ...EMBED_PRESETS.quick,
      label: 'smoke',
      corpus: { markdownStride: 150, markdownLimit: 4, pdfs: [] },
      tutorialChunks: 6,
      // Shorter latencies: the tutorial waits for every one of them.
      server: { latencyMs: [10, 30] },
      redisUrl: inject('redisUrl'),
      chromaUrl: inject('chromaUrl'),
      write: false,
      log: () => undefined,
    });
    expect(r.corpus.chunks).toBeGreaterThan(0);
    expect(r.corpus.tokens).toBeGreaterThan(r.corpus.chunks);
    expect(r.limits.windowBudget.tokens).toBeGreaterThanOrEqual(2 * Math.min(r.corpus.tokens, 25_000));
    expect(r.runs.map((run) => run.contender).sort()).toEqual([...EMBED_CONTENDERS].sort());
    for (const run of r.runs) {
      const want = run.contender === 'tutorial' ? r.corpus.tutorialChunks : r.corpus.chunks;
      expect(run, run.contender).toMatchObject({ chunks: want, stored: want, failed: 0 });
      const s = run.server;
      expect(s.requests, run.contender).toBe(s.succeeded + s.rateLimited.total + s.badRequests);
      expect(s.badRequests, run.contender).toBe(0);
      expect(s.rateLimited.total).toBe(
        s.rateLimited.requests + s.rateLimited.tokens + s.rateLimited.tooLarge,
      );
      // Each chunk embedded exactly once, and counted as the server counts tokens.
      expect(s.inputs, run.contender).toBe(want);
      expect(s.tokens, run.contender).toBe(
        run.contender === 'tutorial' ? r.corpus.tutorialTokens : r.corpus.tokens,
      );
      if (run.contender === 'tutorial') expect(s.succeeded).toBe(want);
      expect(run.use.utilisation).toBeGreaterThan(0);
      expect(run.use.http429Share).toBe(s.requests ? s.rateLimited.total / s.requests : 0);
    }
    expect(Object.keys(r.ratios).sort()).toEqual(
      ['failedJobs', 'http429Share', 'sluiceVsLangchain', 'utilisation'].sort(),
    );
    expect(r.ratios.failedJobs?.value).toBe(0);
    expect(r.table).toContain('sluiceVsLangchain');
    // The cache: the first collection embeds every chunk, the second (same texts) none.
    // (At most the corpus's tokens: a text in two documents may be embedded once.)
    expect(r.cache?.cold).toMatchObject({ stored: r.corpus.chunks, failed: 0 });
    expect(r.cache?.cold.tokens).toBeGreaterThan(0);
    expect(r.cache?.cold.tokens).toBeLessThanOrEqual(r.corpus.tokens);
    expect(r.cache?.warm).toMatchObject({ requests: 0, tokens: 0, stored: r.corpus.chunks, failed: 0 });
    expect(r.cache?.tokensSaved).toBe(1);
    expect(r.table).toContain('embedding cache');
  }, 120_000);
});
