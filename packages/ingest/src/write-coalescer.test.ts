import { describe, expect, it } from 'vitest';
import { WriteCoalescer } from './write-coalescer.js';

function recorder(options: { fail?: (items: string[]) => Error | undefined; maxItems?: number } = {}) {
  const writes: string[][] = [];
  let release: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  const coalescer = new WriteCoalescer<string>({
    maxItems: options.maxItems ?? 10,
    key: (item) => item,
    isolate: (err) => (err as Error).message.startsWith('invalid'),
    write: async (items) => {
      writes.push(items);
      if (gate) await gate;
      const err = options.fail?.(items);
      if (err) throw err;
    },
  });
  return {
    coalescer,
    writes,
    hold: () => {
      gate = new Promise<void>((r) => (release = r));
    },
    release: () => {
      gate = undefined;
      release?.();
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('WriteCoalescer', () => {
  it('writes a lone submission at once, and groups those that arrive while a write runs', async () => {
    const r = recorder();
    r.hold();
    const first = r.coalescer.submit(['a']);
    await tick();
    const rest = [r.coalescer.submit(['b', 'c']), r.coalescer.submit(['d'])];
    await tick();
    expect(r.writes).toEqual([['a']]);
    r.release();
    await Promise.all([first, ...rest]);
    expect(r.writes).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('never exceeds maxItems, never splits a submission, and keeps duplicate keys apart', async () => {
    const r = recorder({ maxItems: 3 });
    r.hold();
    const all = [r.coalescer.submit(['a'])];
    await tick();
    all.push(r.coalescer.submit(['b', 'c']), r.coalescer.submit(['d', 'e']), r.coalescer.submit(['d']));
    r.release();
    await Promise.all(all);
    expect(r.writes).toEqual([['a'], ['b', 'c'], ['d', 'e'], ['d']]);
  });

  it('fails only the submission whose items Chroma refuses, when the failure is isolatable', async () => {
    const r = recorder({
      fail: (items) => (items.includes('bad') ? new Error('invalid record') : undefined),
    });
    r.hold();
    const first = r.coalescer.submit(['a']);
    await tick();
    const good = r.coalescer.submit(['b']);
    const bad = r.coalescer.submit(['bad']);
    r.release();
    await first;
    await expect(good).resolves.toBeUndefined();
    await expect(bad).rejects.toThrow('invalid record');
  });

  it('fails every submission of a write on a shared failure', async () => {
    const r = recorder({ fail: (items) => (items.length > 1 ? new Error('unreachable') : undefined) });
    r.hold();
    const first = r.coalescer.submit(['a']);
    await tick();
    const both = [r.coalescer.submit(['b']), r.coalescer.submit(['c'])];
    r.release();
    await first;
    for (const p of both) await expect(p).rejects.toThrow('unreachable');
  });

  it('drops a waiting submission whose signal aborts, and rejects with its reason', async () => {
    const r = recorder();
    r.hold();
    const first = r.coalescer.submit(['a']);
    await tick();
    const controller = new AbortController();
    const aborted = r.coalescer.submit(['b'], controller.signal);
    const other = r.coalescer.submit(['c']);
    controller.abort(new Error('preempted'));
    await expect(aborted).rejects.toThrow('preempted');
    r.release();
    await Promise.all([first, other]);
    expect(r.writes).toEqual([['a'], ['c']]);
  });
});
