/**
 * `node --import tsx bench/contender-process.ts SPEC.json`: runs the tutorial loop or LangChain's
 * `index()` in a process of its own (see `runContenderProcess` in contenders.ts), so that the
 * crash-and-rerun test can SIGKILL it halfway.
 */
import { runContenderProcess } from './contenders.js';

const specPath = process.argv[2];
if (!specPath) {
  console.error('usage: contender-process.ts SPEC.json');
  process.exit(2);
}
await runContenderProcess(specPath);
