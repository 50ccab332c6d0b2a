/**
 * `pnpm bench [name…] [--quick]`: runs the named benchmarks (all by default), each side by side
 * with its alternative in the same run.
 */
import { EMBED_PRESETS, runEmbedBench } from './embed.js';
import { INGEST_PRESETS, runIngestBench } from './ingest.js';
import { runProfile } from './ingest-profile.js';
import { runQueueBench } from './queue.js';

const started = performance.now();
// Progress lines carry the seconds since start; tables are printed as they are.
const log = (line: string) =>
  console.log(
    line.startsWith('|') || line.includes('\n')
      ? line
      : `[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`,
  );

const benches: Record<string, (quick: boolean) => Promise<unknown>> = {
  queue: (quick) => runQueueBench(quick ? { jobs: 1000, rounds: 1 } : {}),
  ingest: (quick) => runIngestBench({ ...INGEST_PRESETS[quick ? 'quick' : 'full'], write: true, log }),
  profile: (quick) => runProfile({ quick, write: true, log }),
  embed: (quick) => runEmbedBench({ ...EMBED_PRESETS[quick ? 'quick' : 'full'], write: true, log }),
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const names = args.filter((a) => !a.startsWith('--'));
for (const name of names.length ? names : Object.keys(benches)) {
  const bench = benches[name];
  if (!bench) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  await bench(quick);
}
