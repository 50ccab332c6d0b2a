import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FaultRecord } from './faults.js';

/** Where JSON reports go (gitignored). */
export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

/** Which corpus and timings a run used. */
export type LabForm = 'short' | 'full';

/** Everything one scenario measured, and whether its guarantees held. */
export interface ScenarioReport {
  /** The scenario's CLI name, e.g. `rollout-twice`. */
  readonly scenario: string;
  /** The guarantees it proves, e.g. `G1+G2`. */
  readonly guarantees: string;
  readonly form: LabForm;
  /** Every broken guarantee, in words; empty when the scenario passed. */
  readonly violations: readonly string[];
  /** Context that is not a violation (seed, timings, what the faults hit). */
  readonly notes: readonly string[];
  readonly durationMs: number;
  readonly documents: {
    readonly submitted: number;
    /** Submissions refused (e.g. while Redis was down) and retried by the lab's client. */
    readonly refusedSubmissions: number;
  };
  readonly jobs: {
    readonly completed: number;
    readonly failed: Readonly<Record<string, number>>;
    readonly unfinished: number;
    readonly preempted: number;
    readonly stalled: number;
    /** Jobs running in a worker when it was SIGKILLed. */
    readonly interruptedByKill: number;
    /** Jobs running in workers when they received SIGTERM. */
    readonly inFlightAtSigterm: number;
    readonly maxAttempts: number;
    /** Longest wait of a preempted job until it ran again (SPEC: within 1 s). */
    readonly resumeAfterPreemptionMaxMs: number | undefined;
    /** Longest wait of a job whose worker was SIGKILLed until it ran again (SPEC: 15 s by default). */
    readonly resumeAfterKillMaxMs: number | undefined;
  };
  readonly chunks: {
    readonly expected: number;
    readonly stored: number;
    readonly duplicates: number;
    readonly missing: number;
    readonly extra: number;
    /** Chunks written by the workers ("batch written" lines), across all of them. */
    readonly written: number;
    /** Chunks written more than once: per job, chunks written beyond its chunk count, summed. */
    readonly redone: number;
  };
  readonly rollout: {
    /** RollingUpdates and scale-downs performed. */
    readonly count: number;
    readonly podsReplaced: number;
    /** Sum over rollouts, from start until the Deployment was complete. */
    readonly durationMs: number;
    /** Sum over rollouts, from start until the last old pod had exited. */
    readonly drainedMs: number;
    readonly killedAfterGrace: number;
    /** Exit of every terminated pod: `0`, `SIGKILL`, … with counts. */
    readonly exits: Readonly<Record<string, number>>;
  };
  readonly faults: readonly FaultRecord[];
  readonly api?: {
    readonly sent: number;
    readonly failed: number;
    readonly worstLatencyMs: number;
  };
}

/** The report of a scenario that ended with an exception instead of a verdict. */
export function crashedReport(
  scenario: { name: string; guarantees: string },
  form: LabForm,
  error: unknown,
  durationMs: number,
): ScenarioReport {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return {
    scenario: scenario.name,
    guarantees: scenario.guarantees,
    form,
    violations: [`the scenario could not run: ${message}`],
    notes: [],
    durationMs,
    documents: { submitted: 0, refusedSubmissions: 0 },
    jobs: {
      completed: 0,
      failed: {},
      unfinished: 0,
      preempted: 0,
      stalled: 0,
      interruptedByKill: 0,
      inFlightAtSigterm: 0,
      maxAttempts: 0,
      resumeAfterPreemptionMaxMs: undefined,
      resumeAfterKillMaxMs: undefined,
    },
    chunks: { expected: 0, stored: 0, duplicates: 0, missing: 0, extra: 0, written: 0, redone: 0 },
    rollout: { count: 0, podsReplaced: 0, durationMs: 0, drainedMs: 0, killedAfterGrace: 0, exits: {} },
    faults: [],
  };
}

/** Whether a report shows every guarantee held. */
export function passed(report: ScenarioReport): boolean {
  return report.violations.length === 0;
}

const COLUMNS: readonly [header: string, cell: (r: ScenarioReport) => string][] = [
  ['scenario', (r) => `${r.scenario} (${r.guarantees})`],
  ['result', (r) => (passed(r) ? 'pass' : r.documents.submitted ? 'FAIL' : 'ERROR')],
  ['docs', (r) => String(r.documents.submitted)],
  ['completed', (r) => String(r.jobs.completed)],
  [
    'failed (by code)',
    (r) =>
      Object.entries(r.jobs.failed)
        .map(([code, n]) => `${n} ${code}`)
        .join(', ') || '0',
  ],
  ['preempted', (r) => String(r.jobs.preempted)],
  ['stalled', (r) => String(r.jobs.stalled)],
  ['killed jobs', (r) => String(r.jobs.interruptedByKill)],
  ['chunks expected', (r) => String(r.chunks.expected)],
  ['stored', (r) => String(r.chunks.stored)],
  ['dup', (r) => String(r.chunks.duplicates)],
  ['missing', (r) => String(r.chunks.missing)],
  ['extra', (r) => String(r.chunks.extra)],
  ['redone', (r) => String(r.chunks.redone)],
  [
    'rollout s (drained)',
    (r) =>
      r.rollout.count
        ? `${seconds(r.rollout.durationMs)} (${seconds(r.rollout.drainedMs)}), ${r.rollout.count}×`
        : '–',
  ],
  ['API sent/failed', (r) => (r.api ? `${r.api.sent}/${r.api.failed}` : '–')],
  ['worst ms', (r) => (r.api ? String(Math.round(r.api.worstLatencyMs)) : '–')],
  ['run s', (r) => seconds(r.durationMs)],
];

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

/** The reports as a Markdown table, one row per scenario (what `pnpm rollout` prints). */
export function reportTable(reports: readonly ScenarioReport[]): string {
  const rows = [COLUMNS.map(([h]) => h), ...reports.map((r) => COLUMNS.map(([, cell]) => cell(r)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) => `| ${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const [header, ...body] = rows;
  return [line(header ?? []), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join(
    '\n',
  );
}

/** The violations and notes of each report, as indented lines. */
export function reportDetails(reports: readonly ScenarioReport[]): string {
  return reports
    .map((r) =>
      [
        `${r.scenario}: ${passed(r) ? 'every guarantee held' : 'VIOLATIONS'}`,
        ...r.violations.map((v) => `  ✗ ${v}`),
        ...r.notes.map((n) => `  · ${n}`),
      ].join('\n'),
    )
    .join('\n');
}

/** Writes the reports as JSON under {@link RESULTS_DIR} and returns the file's path. */
export async function writeReport(
  reports: readonly ScenarioReport[],
  run: { form: LabForm; command: string; startedAt: Date },
): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const stamp = run.startedAt.toISOString().replace(/[:.]/g, '-');
  const path = join(RESULTS_DIR, `rollout-${run.form}-${stamp}.json`);
  await writeFile(
    path,
    `${JSON.stringify({ command: run.command, form: run.form, startedAt: run.startedAt.toISOString(), reports }, null, 2)}\n`,
  );
  return path;
}
