/**
 * The rollout lab's CLI: `pnpm rollout [--full] [--scenario NAME[,NAME…]] [--seed N] [--verbose] [--logs]`.
 * Runs the scenarios one after the other on a Redis and a Chroma of its own (or REDIS_URL /
 * CHROMA_URL), prints the report table and writes it as JSON under test/rollout/results/.
 * Exits 1 when a guarantee did not hold. Needs the services built (`npx tsc -b`).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startChroma } from '../support/chroma.js';
import { startRedis } from '../support/redis.js';
import { API_MAIN, WORKER_MAIN, assertBuilt } from '../support/stack.js';
import { Lab, PROFILES } from './lab.js';
import {
  RESULTS_DIR,
  crashedReport,
  passed,
  reportDetails,
  reportTable,
  writeReport,
  type ScenarioReport,
} from './report.js';
import { SCENARIOS, scenarioNamed } from './scenarios.js';
import { ExpectedChunks } from './workload.js';

const { values } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    scenario: { type: 'string', multiple: true },
    seed: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    logs: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(
    [
      'pnpm rollout [--full] [--scenario NAME[,NAME…]] [--seed N] [--verbose] [--logs]',
      '',
      '  --full       the whole corpus and the manifests’ own timings (default: the short form of pnpm test)',
      '  --scenario   run only these scenarios (repeat or comma-separate)',
      '  --seed       seed of the random faults (default: random, printed)',
      '  --verbose    print every pod event',
      '  --logs       keep every container’s output under test/rollout/results/logs-<time>/',
      '',
      ...SCENARIOS.map((s) => `  ${s.name.padEnd(14)} ${s.guarantees.padEnd(6)} ${s.title}`),
    ].join('\n'),
  );
  process.exit(0);
}

try {
  assertBuilt([WORKER_MAIN, API_MAIN]);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(2);
}

const selected = (values.scenario ?? []).flatMap((s) => s.split(',')).filter(Boolean);
const scenarios = selected.length ? selected.map(scenarioNamed) : SCENARIOS;
const profile = PROFILES[values.full ? 'full' : 'short'];
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const startedAt = new Date();
const command = ['pnpm rollout', ...process.argv.slice(2)].join(' ');
const logDir = join(RESULTS_DIR, `logs-${startedAt.toISOString().replace(/[:.]/g, '-')}`);

console.log(`rollout lab, ${profile.form} form, seed ${seed}: ${scenarios.map((s) => s.name).join(', ')}`);
const [redis, chroma] = await Promise.all([startRedis(), startChroma()]);
process.once('SIGINT', () => {
  console.log('\ninterrupted: stopping every process the lab started');
  void Promise.allSettled([Lab.closeAll(), redis.stop(), chroma.stop()]).then(() => process.exit(130));
});
const reports: ScenarioReport[] = [];
try {
  for (const scenario of scenarios) {
    console.log(`\n▶ ${scenario.name} (${scenario.guarantees}): ${scenario.title}`);
    const began = Date.now();
    const report = await scenario
      .run({
        profile,
        redisUrl: redis.url,
        chromaUrl: chroma.url,
        seed,
        ...(values.verbose ? { log: (line: string) => console.log(`  ${line}`) } : {}),
        ...(values.logs ? { logDir } : {}),
      })
      .catch((err: unknown) => crashedReport(scenario, profile.form, err, Date.now() - began));
    reports.push(report);
    console.log(reportDetails([report]));
  }
} finally {
  await Promise.allSettled([redis.stop(), chroma.stop(), ExpectedChunks.close()]);
}

console.log(`\n${reportTable(reports)}\n`);
const path = await writeReport(reports, { form: profile.form, command, startedAt });
console.log(`JSON report: ${path}`);
const failed = reports.filter((r) => !passed(r));
if (failed.length) {
  console.log(`guarantees broken in: ${failed.map((r) => r.scenario).join(', ')}`);
  process.exitCode = 1;
}
