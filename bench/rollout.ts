/**
 * Rollout benchmark: the makespan of a first ingest (every job submitted at once, timed until the
 * last one ends) while every worker is replaced twice by a RollingUpdate, ÷ the same ingest with
 * no rollout. Same corpus (twice over in the full form), same Deployment, the two runs
 * alternating from round to round; each run is checked by the rollout lab's own report (every
 * chunk exactly as a clean run stores it).
 * SPEC's target: ≤ 1.15.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab, PROFILES } from '../test/rollout/lab.js';
import type { RolloutResult } from '../test/rollout/rolling-update.js';
import { ExpectedChunks, corpusFiles, interleave, stageFiles } from '../test/rollout/workload.js';
import { startBenchServices } from './bench-services.js';
import { formatTable, loadAverage, machine, median, summarize, writeResult } from './stats.js';

/** Options for {@link runRolloutBench}. */
export interface RolloutBenchOptions {
  /** The lab's short form (a corpus slice, fast probes): a smoke run, no meaningful ratio. */
  quick: boolean;
  /** Pairs of runs (clean and with rollouts). @defaultValue 3 (1 when quick) */
  rounds?: number;
  /** Writes `bench/results/rollout-<time>.json`. */
  write: boolean;
  log: (line: string) => void;
}

type Mode = 'clean' | 'rollout';

/** One timed ingest. */
interface RunSample {
  mode: Mode;
  makespanMs: number;
  documents: number;
  /** When each rollout completed, ms after the first submission (none for a clean run). */
  rolloutsCompletedMs: number[];
  /** What the lab's report found broken; empty when every chunk is exactly where it belongs. */
  violations: string[];
}

export async function runRolloutBench(options: RolloutBenchOptions): Promise<Record<string, unknown>> {
  const { log } = options;
  const profile = PROFILES[options.quick ? 'short' : 'full'];
  const rounds = options.rounds ?? (options.quick ? 1 : 3);
  const loadAtStart = await loadAverage();
  const services = await startBenchServices({
    redisUrl: process.env.REDIS_URL,
    chromaUrl: process.env.CHROMA_URL,
  });
  const samples: RunSample[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const order: Mode[] = round % 2 === 0 ? ['clean', 'rollout'] : ['rollout', 'clean'];
      for (const mode of order) {
        log(`round ${round + 1}/${rounds}: ${mode}`);
        const sample = await timedIngest(mode, {
          profile,
          redisUrl: services.redisUrl,
          chromaUrl: services.chromaUrl,
          seed: round,
        });
        log(
          `  ${mode}: ${sample.documents} documents in ${(sample.makespanMs / 1000).toFixed(1)} s` +
            (sample.rolloutsCompletedMs.length
              ? `; rollouts complete at ${sample.rolloutsCompletedMs.map((ms) => (ms / 1000).toFixed(1)).join(' s, ')} s`
              : '') +
            (sample.violations.length ? `; VIOLATIONS: ${sample.violations.join('; ')}` : ''),
        );
        samples.push(sample);
      }
    }
  } finally {
    await Promise.allSettled([services.stop(), ExpectedChunks.close()]);
  }
  const of = (mode: Mode) => samples.filter((s) => s.mode === mode).map((s) => s.makespanMs);
  const ratio = median(of('rollout')) / median(of('clean'));
  // The ratio means something only when both rollouts happened while the ingest still ran.
  const rolloutsInside = samples
    .filter((s) => s.mode === 'rollout')
    .every(
      (s) => s.rolloutsCompletedMs.length === 2 && s.rolloutsCompletedMs.every((ms) => ms <= s.makespanMs),
    );
  const loadAtEnd = await loadAverage();
  log(
    formatTable(
      ['run', 'makespan, median (spread)', 'ratio', 'target'],
      [
        [
          'clean',
          `${(median(of('clean')) / 1000).toFixed(1)} s (±${(summarize(of('clean')).spread * 100).toFixed(0)} %)`,
          '',
          '',
        ],
        [
          'two rolling updates of the workers',
          `${(median(of('rollout')) / 1000).toFixed(1)} s (±${(summarize(of('rollout')).spread * 100).toFixed(0)} %)`,
          `${ratio.toFixed(2)}×`,
          '≤ 1.15',
        ],
      ],
    ),
  );
  if (!rolloutsInside) log('note: a rollout ended after the ingest; the ratio understates its cost');
  const result = {
    kind: 'rollout',
    form: profile.form,
    machine: await machine(),
    loadAverage: { start: loadAtStart, end: loadAtEnd },
    rounds,
    samples,
    rolloutsInside,
    violations: samples.flatMap((s) => s.violations),
    ratios: { rolloutVsClean: ratio },
  };
  if (options.write) log(`JSON: ${await writeResult('rollout', result)}`);
  return result;
}

/** One ingest of the profile's corpus on a fresh world, with or without two worker rollouts. */
async function timedIngest(
  mode: Mode,
  settings: { profile: (typeof PROFILES)['short']; redisUrl: string; chromaUrl: string; seed: number },
): Promise<RunSample> {
  const lab = await Lab.open(`makespan-${mode}`, settings);
  try {
    const corpus = await corpusFiles(settings.profile.corpus);
    // The full form ingests the corpus twice (the second time under other docIds): once takes
    // about 63 s here, and two rollouts with the production timings about 80 s, which must both
    // end before the ingest does for the ratio to count them whole.
    const files = Array.from({ length: settings.profile.form === 'full' ? 2 : 1 }, (_, copy) =>
      corpus.map((f) => (copy === 0 ? f : { ...f, docId: `copy-${copy + 1}/${f.docId}` })),
    ).flat();
    const pdfs = files.filter((f) => f.docId.endsWith('.pdf'));
    const ordered = interleave(
      files.filter((f) => !f.docId.endsWith('.pdf')),
      pdfs,
    );
    const requests = await stageFiles(lab.storageDir, lab.collection, ordered);
    const workers = await lab.workers();
    const started = Date.now();
    const rolling: Promise<RolloutResult[]> =
      mode === 'rollout'
        ? (async () => {
            await sleep(lab.profile.warmupMs);
            const first = await workers.rollout(lab.workerTemplate(lab.release(1)));
            return [first, await workers.rollout(lab.workerTemplate(lab.release(2)))];
          })()
        : Promise.resolve([]);
    const { accepted, refused } = await lab.submit(requests, 0);
    await lab.settle(accepted.map((s) => s.jobId));
    const makespanMs = Date.now() - started;
    const rollouts = await rolling;
    const report = await lab.report({
      scenario: `makespan-${mode}`,
      guarantees: 'G1+G2',
      submissions: accepted,
      refused,
      expected: await lab.expected.ofAll(accepted.map((s) => s.request)),
      rollouts,
    });
    return {
      mode,
      makespanMs,
      documents: requests.length,
      rolloutsCompletedMs: rollouts.map((r) => r.completedAt - started),
      violations: [...report.violations],
    };
  } finally {
    await lab.close();
  }
}
