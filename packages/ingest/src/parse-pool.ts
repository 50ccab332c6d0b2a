import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SluiceError } from '@sluice/core';
import type {
  ParseKind,
  ParseMessage,
  ParseOutput,
  ParseRequest,
  ParseThreadLimits,
} from './parse-protocol.js';

/** Limits and hooks for one parse run by {@link ParsePool.parse}. */
export interface ParseJobOptions {
  /** Wall-clock limit for the whole parse, thread start included. */
  timeoutMs: number;
  /**
   * Memory cap in MiB: the thread's V8 old generation is limited to this, and the parse is also
   * stopped when the process's resident memory grows by more than this while it runs (pdf.js keeps
   * decoded streams in ArrayBuffers, which the V8 heap limit does not count).
   */
  maxMemoryMb: number;
  /**
   * DOCX: the most the archive's XML parts may inflate to, in bytes; checked while inflating,
   * before the parser sees them.
   * @defaultValue `maxMemoryMb / 16` MiB
   */
  maxUnzippedBytes?: number;
  /** Aborting stops the parse at once and terminates its thread. */
  signal?: AbortSignal;
  /** PDF: called after each page is extracted, with the page number and the page count; what it throws is ignored. */
  onPage?: (page: number, pages: number) => void;
}

/** One document for {@link ParsePool.parse}: which parser reads it, and its bytes. */
export interface ParseInput {
  kind: ParseKind;
  /** Transferred to the thread, and unusable afterwards. */
  data: ArrayBuffer;
}

/** How a {@link ParsePool} sizes and recycles its threads. */
export interface ParsePoolOptions {
  /**
   * Parses that run at once; more wait their turn (their timeout starts when they start).
   * The memory guard can only watch the whole process, so with several parses at once it cannot
   * tell which one is growing: with two running, the worker test saw the guard stop a slow but
   * harmless parse instead of `bomb_giant.pdf`. One at a time makes the blame exact; run more
   * worker processes to parse more documents at once.
   * @defaultValue `1`
   */
  maxConcurrentParses?: number;
  /**
   * Ready threads kept per memory cap between parses; more are started when more parses run at
   * once, and terminated when they finish.
   * @defaultValue `os.availableParallelism()`
   */
  maxIdleThreads?: number;
  /**
   * An idle thread is terminated after this long without work.
   * @defaultValue `30_000`
   */
  idleTimeoutMs?: number;
  /**
   * A thread is replaced after this many parses, so that whatever a parser leaves behind cannot add up.
   * @defaultValue `50`
   */
  maxParsesPerThread?: number;
  /**
   * How often resident memory is sampled while parses run.
   * @defaultValue `200`
   */
  memoryCheckIntervalMs?: number;
  /**
   * The thread's entry script.
   * @defaultValue `parse-thread.js` next to this module; `parse-thread.ts`, loaded through
   * tsx, when this module runs from its TypeScript source (the unit tests, which need no build).
   */
  threadUrl?: URL;
}

const MIB = 1024 * 1024;

interface ParseJob {
  readonly id: number;
  readonly kind: ParseKind;
  readonly options: ParseJobOptions;
  readonly resolve: (output: ParseOutput) => void;
  readonly reject: (error: SluiceError) => void;
  settled: boolean;
  thread?: ParseThread;
  rssAtStart: number;
  lastActivityAt: number;
  cleanup: () => void;
}

interface ParseThread {
  readonly worker: Worker;
  readonly maxMemoryMb: number;
  readonly ready: Promise<void>;
  job?: ParseJob;
  parses: number;
  dead: boolean;
  idleTimer?: NodeJS.Timeout;
}

/**
 * Runs document parses (PDF with pdf-parse, DOCX with mammoth, HTML with linkedom and
 * Readability) in `node:worker_threads` threads with a V8 heap cap, and stops a parse that runs
 * past its deadline, past its memory cap, or is aborted, by terminating its thread: a parser
 * blocks the thread it runs on, never the caller's. One pool serves every format, so that one
 * worker process parses one document at a time whatever its type, and the memory guard always
 * knows whom to blame. Threads are reused across formats, because starting one and loading a
 * parser costs about 100–250 ms; a thread that was terminated or crashed is never reused.
 *
 * The memory guard cannot measure one thread's memory (Node has no per-thread figure), so it
 * watches the process's resident set: when it has grown since the earliest running parse began by
 * more than the sum of the running parses' caps, the parse that has gone longest without finishing
 * a page is stopped.
 */
export class ParsePool {
  readonly #maxIdle: number;
  readonly #idleTimeoutMs: number;
  readonly #maxParses: number;
  readonly #checkIntervalMs: number;
  readonly #threadUrl: URL;
  readonly #idle = new Map<number, ParseThread[]>();
  readonly #threads = new Set<ParseThread>();
  /** Parses not yet settled, with or without a thread. */
  readonly #jobs = new Set<ParseJob>();
  /** Parses running on a thread: what the memory guard watches. */
  readonly #active = new Set<ParseJob>();
  #nextId = 1;
  #guard: NodeJS.Timeout | undefined;
  readonly #maxConcurrent: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(options: ParsePoolOptions = {}) {
    this.#maxConcurrent = options.maxConcurrentParses ?? 1;
    this.#maxIdle = options.maxIdleThreads ?? availableParallelism();
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.#maxParses = options.maxParsesPerThread ?? 50;
    this.#checkIntervalMs = options.memoryCheckIntervalMs ?? 200;
    this.#threadUrl = options.threadUrl ?? defaultThreadUrl();
  }

  /** Threads currently alive, busy or idle. */
  get threadCount(): number {
    return this.#threads.size;
  }

  /**
   * Parses one document. Its `data` is transferred to the thread and unusable afterwards. Settles
   * within `timeoutMs` (plus the few milliseconds a termination takes) whatever the document does.
   *
   * @throws SluiceError `PARSE_TIMEOUT` past the deadline or the memory cap, `ENCRYPTED_DOCUMENT`,
   * `INVALID_DOCUMENT` when the parser refuses the document or crashes on it, `TOO_LARGE` when a
   * DOCX inflates past `maxUnzippedBytes`, `UNSUPPORTED_TYPE` for a Word 97–2003 file sent as DOCX,
   * `PREEMPTED` (or the signal's reason, when it is a `SluiceError`) when aborted, `INTERNAL` when
   * no thread can start.
   */
  async parse(input: ParseInput, options: ParseJobOptions): Promise<ParseOutput> {
    await this.#turn(options.signal, input.kind);
    try {
      return await this.#parse(input, options);
    } finally {
      // Hand the slot straight to the next waiter, so that no new caller slips in between.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running -= 1;
    }
  }

  /** Waits until fewer than `maxConcurrentParses` parses run (or a finished one hands over its slot). */
  async #turn(signal: AbortSignal | undefined, kind: ParseKind): Promise<void> {
    if (signal?.aborted) throw abortError(signal, kind);
    if (this.#running < this.#maxConcurrent) {
      this.#running += 1;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const at = this.#waiting.indexOf(go);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(abortError(signal, kind));
      };
      const go = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(go);
    });
  }

  #parse({ kind, data }: ParseInput, options: ParseJobOptions): Promise<ParseOutput> {
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal, kind));
    return new Promise<ParseOutput>((resolve, reject) => {
      const job: ParseJob = {
        id: this.#nextId++,
        kind,
        options,
        resolve,
        reject,
        settled: false,
        rssAtStart: 0,
        lastActivityAt: performance.now(),
        cleanup: () => undefined,
      };
      const timer = setTimeout(() => this.#stop(job, timeoutError(kind, timeoutMs)), timeoutMs);
      const onAbort = (): void => this.#stop(job, abortError(signal, kind));
      signal?.addEventListener('abort', onAbort, { once: true });
      job.cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.#jobs.add(job);
      this.#acquire(options.maxMemoryMb).then(
        (thread) => this.#start(thread, job, data),
        (err: unknown) => this.#settle(job, toStartError(err)),
      );
    });
  }

  /** Terminates every thread; parses still running fail with `SHUTTING_DOWN`. */
  async close(): Promise<void> {
    for (const job of [...this.#jobs]) {
      this.#settle(job, new SluiceError('SHUTTING_DOWN', 'the parse pool was closed'));
    }
    await Promise.all([...this.#threads].map((thread) => this.#kill(thread)));
  }

  async #acquire(maxMemoryMb: number): Promise<ParseThread> {
    const idle = this.#idle.get(maxMemoryMb);
    const reused = idle?.pop();
    if (reused) {
      clearTimeout(reused.idleTimer);
      reused.worker.ref();
      return reused;
    }
    const thread = this.#spawn(maxMemoryMb);
    await thread.ready;
    return thread;
  }

  #spawn(maxMemoryMb: number): ParseThread {
    if (this.#threadUrl.protocol === 'file:' && !existsSync(this.#threadUrl)) {
      throw new SluiceError(
        'INTERNAL',
        `parse thread script ${fileURLToPath(this.#threadUrl)} is missing; build with \`tsc -b\``,
      );
    }
    const worker = new Worker(this.#threadUrl, {
      // Not the process's own flags: `--input-type`, `--inspect` or a loader meant for the main
      // entry point break or slow down a thread that only needs plain Node. A thread run from its
      // TypeScript source (tests, without a build) loads through tsx.
      execArgv: this.#threadUrl.pathname.endsWith('.ts') ? ['--import', 'tsx'] : [],
      resourceLimits: {
        maxOldGenerationSizeMb: maxMemoryMb,
        maxYoungGenerationSizeMb: Math.min(64, Math.max(8, Math.round(maxMemoryMb / 8))),
      },
    });
    let markReady: () => void = () => undefined;
    let failStart: (err: unknown) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    const thread: ParseThread = { worker, maxMemoryMb, ready, parses: 0, dead: false };
    this.#threads.add(thread);
    worker.on('message', (message: ParseMessage) => {
      if (message.type === 'ready') markReady();
      else this.#onMessage(thread, message);
    });
    worker.on('error', (err: Error & { code?: string }) => {
      failStart(err);
      const { job } = thread;
      this.#forget(thread);
      if (!job) return;
      // Out of heap is the memory cap doing its job; any other uncaught error is the parser failing
      // on this document outside its promise chain.
      this.#settle(
        job,
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? memoryError(job.kind, job.options.maxMemoryMb, err)
          : crashError(job.kind, err),
      );
    });
    worker.on('exit', (exitCode) => {
      failStart(new Error(`the parse thread exited with code ${exitCode} before it was ready`));
      const { job } = thread;
      this.#forget(thread);
      if (job) {
        this.#settle(job, new SluiceError('INTERNAL', `the parse thread exited with code ${exitCode}`));
      }
    });
    return thread;
  }

  #start(thread: ParseThread, job: ParseJob, data: ArrayBuffer): void {
    if (job.settled || thread.dead) {
      // Timed out or aborted while the thread was starting: the thread itself is fine.
      if (!thread.dead) this.#release(thread);
      if (!job.settled) {
        this.#settle(job, new SluiceError('INTERNAL', 'the parse thread died before use'));
      }
      return;
    }
    job.thread = thread;
    thread.job = job;
    thread.parses += 1;
    job.rssAtStart = process.memoryUsage.rss();
    job.lastActivityAt = performance.now();
    this.#active.add(job);
    this.#guard ??= setInterval(() => this.#checkMemory(), this.#checkIntervalMs).unref();
    const limits: ParseThreadLimits = {
      maxUnzippedBytes:
        job.options.maxUnzippedBytes ?? Math.max(1, Math.floor(job.options.maxMemoryMb / 16)) * MIB,
    };
    const request: ParseRequest = { id: job.id, kind: job.kind, data, limits };
    thread.worker.postMessage(request, [data]);
  }

  #onMessage(thread: ParseThread, message: Exclude<ParseMessage, { type: 'ready' }>): void {
    const { job } = thread;
    if (!job || job.id !== message.id) return;
    switch (message.type) {
      case 'loaded':
        // Loading a parser's modules is not the document's doing.
        job.rssAtStart = Math.max(job.rssAtStart, process.memoryUsage.rss());
        job.lastActivityAt = performance.now();
        return;
      case 'page':
        job.lastActivityAt = performance.now();
        try {
          job.options.onPage?.(message.page, message.pages);
        } catch {
          // Progress is advisory: a failing callback must not take the parse (or the process) down.
        }
        return;
      case 'done': {
        const { type: _type, id: _id, ...output } = message;
        this.#settle(job, output);
        this.#release(thread);
        return;
      }
      case 'failed':
        this.#settle(job, new SluiceError(message.code, message.message));
        this.#release(thread);
        return;
    }
  }

  /** Ends a job early and terminates its thread, which may be blocked inside a parser. */
  #stop(job: ParseJob, error: SluiceError): void {
    if (job.settled) return;
    const { thread } = job;
    this.#settle(job, error);
    if (!thread) return;
    void this.#kill(thread);
    // The stopped parse's memory stays in the process's resident set (the allocator keeps it for
    // reuse), so the parses still running are measured from here on.
    const rss = process.memoryUsage.rss();
    for (const other of this.#active) other.rssAtStart = Math.max(other.rssAtStart, rss);
  }

  #settle(job: ParseJob, outcome: ParseOutput | SluiceError): void {
    if (job.settled) return;
    job.settled = true;
    job.cleanup();
    this.#jobs.delete(job);
    this.#active.delete(job);
    if (job.thread?.job === job) job.thread.job = undefined;
    if (this.#active.size === 0 && this.#guard) {
      clearInterval(this.#guard);
      this.#guard = undefined;
    }
    if (outcome instanceof SluiceError) job.reject(outcome);
    else job.resolve(outcome);
  }

  #release(thread: ParseThread): void {
    if (thread.dead) return;
    const idle = this.#idle.get(thread.maxMemoryMb) ?? [];
    if (thread.parses >= this.#maxParses || idle.length >= this.#maxIdle) {
      void this.#kill(thread);
      return;
    }
    idle.push(thread);
    this.#idle.set(thread.maxMemoryMb, idle);
    thread.worker.unref();
    thread.idleTimer = setTimeout(() => void this.#kill(thread), this.#idleTimeoutMs).unref();
  }

  async #kill(thread: ParseThread): Promise<void> {
    this.#forget(thread);
    await thread.worker.terminate();
  }

  #forget(thread: ParseThread): void {
    thread.dead = true;
    clearTimeout(thread.idleTimer);
    this.#threads.delete(thread);
    const idle = this.#idle.get(thread.maxMemoryMb);
    const at = idle?.indexOf(thread) ?? -1;
    if (at >= 0) idle?.splice(at, 1);
  }

  #checkMemory(): void {
    const active = [...this.#active];
    if (active.length === 0) return;
    const rss = process.memoryUsage.rss();
    const base = Math.min(...active.map((job) => job.rssAtStart));
    const budget = active.reduce((sum, job) => sum + job.options.maxMemoryMb, 0) * MIB;
    if (rss - base <= budget) return;
    const stalest = active.reduce((a, b) => (b.lastActivityAt < a.lastActivityAt ? b : a));
    this.#stop(
      stalest,
      memoryError(stalest.kind, stalest.options.maxMemoryMb, undefined, Math.round((rss - base) / MIB)),
    );
  }
}

function defaultThreadUrl(): URL {
  const self = import.meta.url;
  return new URL(self.endsWith('.ts') ? './parse-thread.ts' : './parse-thread.js', self);
}

/** How a kind is named in messages. */
function label(kind: ParseKind): string {
  return kind.toUpperCase();
}

function timeoutError(kind: ParseKind, timeoutMs: number): SluiceError {
  return new SluiceError(
    'PARSE_TIMEOUT',
    `${label(kind)} parsing did not finish within ${timeoutMs} ms and was stopped`,
    { details: { timeoutMs } },
  );
}

function crashError(kind: ParseKind, err: Error): SluiceError {
  return new SluiceError(
    'INVALID_DOCUMENT',
    `the ${label(kind)} parser crashed on the document (${err.name}: ${err.message})`,
    { cause: err },
  );
}

function memoryError(kind: ParseKind, maxMemoryMb: number, cause?: unknown, grownMb?: number): SluiceError {
  const how = grownMb === undefined ? 'its heap' : `the process by ${grownMb} MB`;
  return new SluiceError(
    'PARSE_TIMEOUT',
    `${label(kind)} parsing grew ${how}, past its memory cap of ${maxMemoryMb} MB, and was stopped`,
    { cause, details: { maxMemoryMb } },
  );
}

function abortError(signal: AbortSignal | undefined, kind: ParseKind): SluiceError {
  const reason: unknown = signal?.reason;
  if (reason instanceof SluiceError) return reason;
  return new SluiceError('PREEMPTED', `${label(kind)} parsing was aborted`, { cause: reason });
}

function toStartError(err: unknown): SluiceError {
  if (err instanceof SluiceError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SluiceError('INTERNAL', `the parse thread could not start: ${message}`, { cause: err });
}
