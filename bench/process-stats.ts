/**
 * Memory and CPU of processes, read from Linux's /proc: resident memory (`VmRSS`), its peak
 * (`VmHWM`, which covers every thread, so a worker's PDF parse threads count), and CPU time.
 */
import { readdir, readFile } from 'node:fs/promises';

/** Resident memory of one process, in MiB. */
export interface ProcessMemory {
  /** Current resident set (`VmRSS`). */
  rssMiB: number;
  /** Peak resident set since the process started (`VmHWM`). */
  peakMiB: number;
}

/** Reads `VmRSS` and `VmHWM` of a process; `undefined` once it is gone. */
export async function processMemory(pid: number): Promise<ProcessMemory | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

// USER_HZ is 100 on every Linux architecture Node runs on.
const CLOCK_TICKS = 100;

/** User plus system CPU seconds a process (all its threads) has used; `undefined` once it is gone. */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name, which may itself contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** The first process whose command line contains every one of `parts`. */
export async function findProcess(...parts: string[]): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const line = cmdline.split('\0').join(' ');
    if (parts.every((p) => line.includes(p))) return Number(entry);
  }
  return undefined;
}

/** CPU seconds used by named processes between {@link CpuMeter.start} and {@link CpuMeter.stop}. */
export class CpuMeter {
  readonly #pids: Map<string, number>;
  #before = new Map<string, number>();
  #startedCpu = process.cpuUsage();

  /** `pids` names the processes to watch; this process is always watched as `bench`. */
  constructor(pids: Record<string, number | undefined>) {
    this.#pids = new Map(Object.entries(pids).filter((e): e is [string, number] => typeof e[1] === 'number'));
  }

  /** Adds a process to watch from now on (e.g. a worker started after the meter). */
  async add(name: string, pid: number): Promise<void> {
    this.#pids.set(name, pid);
    this.#before.set(name, (await cpuSeconds(pid)) ?? 0);
  }

  /** Takes the starting readings. */
  async start(): Promise<void> {
    this.#startedCpu = process.cpuUsage();
    for (const [name, pid] of this.#pids) this.#before.set(name, (await cpuSeconds(pid)) ?? 0);
  }

  /** CPU seconds per watched process since {@link CpuMeter.start} (processes gone by now are left out). */
  async stop(): Promise<Record<string, number>> {
    const used = process.cpuUsage(this.#startedCpu);
    const out: Record<string, number> = { bench: (used.user + used.system) / 1e6 };
    for (const [name, pid] of this.#pids) {
      const now = await cpuSeconds(pid);
      if (now !== undefined) out[name] = now - (this.#before.get(name) ?? 0);
    }
    return out;
  }
}

/** One full collection of a process's main thread, read from its `--trace-gc` output. */
export interface HeapSample {
  /** Documents finished when the line was read. */
  completed: number;
  /** The main thread's heap after the collection (what was still reachable), MiB. */
  liveMiB: number;
}

// `[pid:0xisolate]   1234 ms: Mark-Compact 45.2 (60.1) -> 40.1 (61.2) MB, …` (also "Mark-Compact (reduce)").
const GC_TRACE =
  /^\[\d+:(0x[0-9a-f]+)\]\s+[\d.]+ ms: (\S+)(?: \(\w+\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB/;

/**
 * The live heap of a process's main thread after each mark-compact, from the `--trace-gc` lines
 * in its output. The main isolate is the first one to print (its worker threads, which start
 * later and are recycled, print under other addresses). RSS alone cannot tell a leak from a heap
 * and an allocator growing into free memory; the heap after a full collection can.
 */
export class MainHeapTrace {
  readonly samples: HeapSample[] = [];
  #offset = 0;
  #isolate: string | undefined;

  /** Reads the lines printed since the last call, attributing them to `completed` documents. */
  read(output: string, completed: number): void {
    const end = output.lastIndexOf('\n');
    if (end < this.#offset) return;
    const lines = output.slice(this.#offset, end).split('\n');
    this.#offset = end + 1;
    for (const line of lines) {
      const match = GC_TRACE.exec(line);
      if (!match) continue;
      this.#isolate ??= match[1];
      if (match[1] === this.#isolate && match[2] === 'Mark-Compact') {
        this.samples.push({ completed, liveMiB: Number(match[3]) });
      }
    }
  }
}
