import { describe, expect, it } from 'vitest';
import { ReadCoalescer } from './read-coalescer.js';

function recorder(maxKeys = 3) {
  const reads: string[][] = [];
  let release: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  let failWith: Error | undefined;
  const coalescer = new ReadCoalescer<string, string>({
    maxKeys,
    missing: () => 'none',
    read: async (keys) => {
      reads.push(keys);
      if (gate) await gate;
      if (failWith) throw failWith;
      return new Map(keys.filter((k) => k !== 'absent').map((k) => [k, `value of ${k}`]));
    },
  });
  return {
    coalescer,
    reads,
    hold: () => {
      gate = new Promise<void>((r) => (release = r));
    },
    release: () => {
      gate = undefined;
      release?.();
    },
    fail: (err: Error) => (failWith = err),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('ReadCoalescer', () => {
  it('reads a lone key at once and batches the keys asked for while a read runs', async () => {
    const r = recorder();
    r.hold();
    const first = r.coalescer.get('a');
    await tick();
    const rest = ['b', 'c', 'b', 'absent', 'd'].map((k) => r.coalescer.get(k));
    r.release();
    expect(await first).toBe('value of a');
    expect(await Promise.all(rest)).toEqual(['value of b', 'value of c', 'value of b', 'none', 'value of d']);
    expect(r.reads).toEqual([['a'], ['b', 'c', 'absent'], ['d']]);
  });

  it('rejects every lookup of a failed read, and a lookup whose signal aborts', async () => {
    const r = recorder();
    r.hold();
    const first = r.coalescer.get('a');
    await tick();
    const controller = new AbortController();
    const aborted = r.coalescer.get('b', controller.signal);
    const other = r.coalescer.get('c');
    controller.abort(new Error('preempted'));
    await expect(aborted).rejects.toThrow('preempted');
    r.fail(new Error('unreachable'));
    r.release();
    await expect(first).rejects.toThrow('unreachable');
    await expect(other).rejects.toThrow('unreachable');
    expect(r.reads).toEqual([['a'], ['c']]);
  });
});
