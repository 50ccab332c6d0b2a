/**
 * `pnpm bench [name…] [--quick] [--window=<seconds>] [--parts=<part,…>]`: runs the named
 * benchmarks (all by default), each side by side with its alternative in the same run. `--window`
 * sets the embed benchmark's rate-limit window (default: its preset's; 60 is a plain per-minute
 * window). `--parts` runs only some parts of the ingest benchmark (throughput, crash, memory, redis).
 */
import { EMBED_PRESETS, runEmbedBench } from './embed.js';
import { INGEST_PARTS, INGEST_PRESETS, runIngestBench, type IngestPart } from './ingest.js';
import { runProfile } from './ingest-profile.js';
import { runQueueBench } from './queue.js';
import { runRolloutBench } from './rollout.js';

const started = performance.now();
// Progress lines carry the seconds since start; tables are printed as they are.
const log = (line: string) =>
  console.log(
    line.startsWith('|') || line.includes('\n')
      ? line
      : `[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`,
  );

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const windowArg = args.find((a) => a.startsWith('--window='));
const windowSeconds = windowArg ? Number(windowArg.slice('--window='.length)) : undefined;
if (windowSeconds !== undefined && !(windowSeconds > 0)) {
  console.error(`--window wants a number of seconds, got ${windowArg}`);
  process.exit(2);
}

const partsArg = args.find((a) => a.startsWith('--parts='));
const parts = partsArg?.slice('--parts='.length).split(',');
const unknownPart = parts?.find((part) => !(INGEST_PARTS as readonly string[]).includes(part));
if (parts && (parts.length === 0 || unknownPart !== undefined)) {
  console.error(`--parts wants some of ${INGEST_PARTS.join(', ')}, comma-separated; got ${partsArg}`);
  process.exit(2);
}
const unknownFlag = args.find((a) => a.startsWith('--') && !/^--(quick|window=|parts=)/.test(a));
if (unknownFlag) {
  console.error(`unknown option ${unknownFlag}; known: --quick, --window=<seconds>, --parts=<part,…>`);
  process.exit(2);
}

const benches: Record<string, () => Promise<unknown>> = {
  queue: () => runQueueBench(quick ? { jobs: 1000, rounds: 1 } : {}),
  ingest: () => {
    const preset = INGEST_PRESETS[quick ? 'quick' : 'full'];
    return runIngestBench({
      ...preset,
      parts: (parts as IngestPart[] | undefined) ?? preset.parts,
      write: true,
      log,
    });
  },
  profile: () => runProfile({ quick, write: true, log }),
  rollout: () => runRolloutBench({ quick, write: true, log }),
  embed: () => {
    const preset = EMBED_PRESETS[quick ? 'quick' : 'full'];
    return runEmbedBench({
      ...preset,
      windowSeconds: windowSeconds ?? preset.windowSeconds,
      write: true,
      log,
    });
  },
};

const names = args.filter((a) => !a.startsWith('--'));
for (const name of names.length ? names : Object.keys(benches)) {
  const bench = benches[name];
  if (!bench) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  await bench();
}
