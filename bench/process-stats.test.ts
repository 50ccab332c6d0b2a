import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MainHeapTrace } from './process-stats.js';

// A real Node process with a worker thread, both forced through full collections: the trace
// must keep the main thread's and leave the thread's out.
const SCRIPT = `
const { Worker } = require('node:worker_threads');
globalThis.keep = Array.from({ length: 300000 }, (_, i) => ({ i }));
gc(); gc();
const thread = new Worker("const garbage = Array.from({ length: 100000 }, (_, i) => ({ i })); gc(); gc(); gc();", { eval: true });
thread.on('exit', () => { gc(); });
`;

describe('MainHeapTrace', () => {
  it("reads the main thread's heap after each full collection from --trace-gc output, not a thread's", () => {
    const output = execFileSync(process.execPath, ['--trace-gc', '--expose-gc', '-e', SCRIPT], {
      encoding: 'utf8',
    });
    const isolates = new Set([...output.matchAll(/^\[\d+:(0x[0-9a-f]+)\]/gm)].map((m) => m[1]));
    expect(isolates.size).toBe(2);

    const trace = new MainHeapTrace();
    // Fed in two parts, the first ending mid-line, as a child's output arrives.
    const cut = output.indexOf('Mark-Compact') + 5;
    trace.read(output.slice(0, cut), 1);
    trace.read(output, 2);
    // Every full collection of the main thread (at least the three forced ones) and none of the thread's.
    const fullOf = (isolate: string) =>
      output.split('\n').filter((line) => line.includes(`:${isolate}]`) && / ms: Mark-Compact/.test(line));
    const [main, thread] = [...isolates];
    expect(fullOf(thread!).length).toBeGreaterThanOrEqual(3);
    expect(trace.samples.length).toBeGreaterThanOrEqual(3);
    expect(trace.samples).toHaveLength(fullOf(main!).length);
    expect(trace.samples[0]!.completed).toBe(2);
    // 300,000 small objects stay reachable: several MiB live after each collection.
    for (const sample of trace.samples) expect(sample.liveMiB).toBeGreaterThan(5);
  });
});
