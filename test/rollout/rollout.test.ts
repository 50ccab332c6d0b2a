import { afterAll, describe, expect, inject, it } from 'vitest';
import { Lab, PROFILES, type LabSettings } from './lab.js';
import { reportDetails, reportTable, type ScenarioReport } from './report.js';
import { SCENARIOS, scenarioNamed } from './scenarios.js';
import { ExpectedChunks } from './workload.js';

// The short form of `pnpm rollout`: real worker and API processes, compressed timings, a small
// corpus slice. Scenarios run one after the other: each already keeps both cores busy.
const settings: LabSettings = {
  profile: PROFILES.short,
  redisUrl: inject('redisUrl'),
  chromaUrl: inject('chromaUrl'),
  seed: Number(process.env.ROLLOUT_SEED ?? 20_251_130),
};
const reports: ScenarioReport[] = [];

afterAll(async () => {
  // A scenario that timed out is still running: stop its processes.
  await Lab.closeAll();
  await ExpectedChunks.close();
  if (reports.length) console.log(`${reportTable(reports)}\n${reportDetails(reports)}`);
});

/** Runs a scenario and expects every guarantee to hold, showing its report when one did not. */
async function holds(name: string): Promise<ScenarioReport> {
  const report = await scenarioNamed(name).run(settings);
  reports.push(report);
  expect(report.violations, reportDetails([report])).toEqual([]);
  return report;
}

describe('rollout lab, short form', () => {
  it('lists every scenario of the issue', () => {
    expect(SCENARIOS.map((s) => s.name)).toEqual([
      'rollout-twice',
      'sigkill',
      'hostile',
      'dependencies',
      'api-rollout',
      'versions',
      'scale-down',
      'redis-cluster',
      'outage',
    ]);
  });

  it(
    'G1+G2: two RollingUpdates during ingestion: exact chunks, no failed job, no attempt spent',
    { timeout: 120_000 },
    async () => {
      const report = await holds('rollout-twice');
      expect(report.rollout.podsReplaced).toBe(2 * PROFILES.short.workerReplicas);
      expect(report.jobs.failed).toEqual({});
      expect(report.jobs.maxAttempts).toBe(1);
    },
  );

  it(
    'G3: random SIGKILLs: exact chunks, redone work within one batch per killed job',
    { timeout: 120_000 },
    async () => {
      const report = await holds('sigkill');
      expect(report.faults.length).toBeGreaterThan(0);
      expect(report.chunks.missing + report.chunks.extra).toBe(0);
    },
  );

  it(
    'G4: hostile PDFs, DOCX and HTML files end in their codes and the good documents are exact',
    { timeout: 120_000 },
    async () => {
      const report = await holds('hostile');
      expect(Object.keys(report.jobs.failed).sort()).toEqual(
        [
          'ENCRYPTED_DOCUMENT',
          'INVALID_DOCUMENT',
          'NO_TEXT',
          'PARSE_TIMEOUT',
          'TOO_LARGE',
          'UNSUPPORTED_TYPE',
        ].sort(),
      );
    },
  );

  it(
    'G5: Redis and Chroma restarts and a cut Redis link lose nothing; readiness says 503 meanwhile',
    { timeout: 150_000 },
    async () => {
      const report = await holds('dependencies');
      expect(report.faults.map((f) => f.kind)).toEqual(['redis-restart', 'chroma-restart', 'redis-cut']);
    },
  );

  it('G6: an API RollingUpdate under load fails no request', { timeout: 120_000 }, async () => {
    const report = await holds('api-rollout');
    expect(report.api?.sent).toBeGreaterThan(50);
    expect(report.api?.failed).toBe(0);
  });

  it('G7: the version submitted last wins, through a worker rollout', { timeout: 120_000 }, async () => {
    await holds('versions');
  });

  it('scale-down 3 → 1 mid-ingest keeps G1 and G2', { timeout: 120_000 }, async () => {
    await holds('scale-down');
  });

  it('Redis Cluster: scenario 1 with one rollout on three masters', { timeout: 120_000 }, async () => {
    await holds('redis-cluster');
  });

  it(
    'G9: a long Chroma outage mid-ingest fails no job and spends no attempt; the workers resume by themselves',
    { timeout: 150_000 },
    async () => {
      const report = await holds('outage');
      expect(report.jobs.failed).toEqual({});
      expect(report.jobs.maxAttempts).toBe(1);
    },
  );
});
