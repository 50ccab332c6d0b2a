import { describe, expect, it } from 'vitest';
import { WriteCoalescer } from './write-coalescer.js';

function recorder(options: { fail?: (items: string[]) => Error | undefined; maxItems?: number } = {}) {
  const writes: string[][] = [];
  /** Writes that completed (landed), in order. */
  const landed: string[][] = [];
  /** Writes that ended (landed, failed or cancelled), in order. */
  const ended: string[][] = [];
  let release: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  const coalescer = new WriteCoalescer<string>({
    maxItems: options.maxItems ?? 10,
    key: (item) => item,
    isolate: (err) => (err as Error).message.startsWith('invalid'),
    write: async (items, signal) => {
      writes.push(items);
      try {
        await written(items, signal);
      } finally {
        ended.push(items);
      }
    },
  });
  async function written(items: string[], signal: AbortSignal | undefined): Promise<void> {
    // A cancellable request: an abort ends the wait for the gate, as a cancelled fetch would.
    if (gate) {
      await Promise.race([
        gate,
        new Promise<never>((_, reject) =>
          signal?.addEventListener('abort', () => reject(new Error('cancelled'))),
        ),
      ]);
    }
    const err = options.fail?.(items);
    if (err) throw err;
    landed.push(items);
  }
  return {
    coalescer,
    writes,
    landed,
    ended,
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

  it('cancels a shared write whose submitter aborts, rejects that submitter only once the write settled, and writes the others again', async () => {
    const r = recorder();
    r.hold();
    const first = r.coalescer.submit(['a']);
    await tick();
    const controller = new AbortController();
    const aborted = r.coalescer.submit(['b'], controller.signal);
    const other = r.coalescer.submit(['c']);
    r.release();
    r.hold();
    await first;
    await tick();
    expect(r.writes.at(-1)).toEqual(['b', 'c']);
    let endedAtRejection: string[][] | undefined;
    const outcome = aborted.catch((err: Error) => {
      endedAtRejection = [...r.ended];
      return err.message;
    });
    controller.abort(new Error('lease lost'));
    expect(await outcome).toBe('lease lost');
    // The shared request had ended (cancelled) before the rejection, and never landed.
    expect(endedAtRejection).toContainEqual(['b', 'c']);
    r.release();
    await other;
    expect(r.landed).toEqual([['a'], ['c']]);
  });

  it('resolves a submitter whose write landed before its abort could cancel it', async () => {
    const r = recorder();
    r.hold();
    const controller = new AbortController();
    const submitted = r.coalescer.submit(['a'], controller.signal);
    await tick();
    r.release();
    controller.abort(new Error('too late'));
    await expect(submitted).resolves.toBeUndefined();
    expect(r.landed).toEqual([['a']]);
  });
});
