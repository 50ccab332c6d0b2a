/**
 * `pnpm bench [name…] [--quick]`: runs the named benchmarks (all by default), each side by side
 * with its alternative in the same run.
 */
import { runQueueBench } from './queue.js';

const benches: Record<string, (quick: boolean) => Promise<unknown>> = {
  queue: (quick) => runQueueBench(quick ? { jobs: 1000, rounds: 1 } : {}),
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
