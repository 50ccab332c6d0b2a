/** One submission waiting in a {@link GroupCommit}. */
export interface Pending<TInput, TOutput> {
  readonly input: TInput;
  /** The submitter's signal, if any. */
  readonly signal: AbortSignal | undefined;
  /** Settles the submission; a settled submission ignores further calls. */
  resolve(value: TOutput): void;
  reject(err: Error): void;
}

/** What a {@link GroupCommit} does with its submissions. */
export interface GroupCommitOptions<TInput, TOutput> {
  /**
   * How many of the waiting submissions, from the front, go in the next group: at least 1 (a
   * submission too large to share a request goes alone), at most `waiting.length`.
   */
  groupSize: (waiting: readonly TInput[]) => number;
  /**
   * Runs one group as one request, and settles every submission in it. A submission it leaves
   * unsettled is rejected with `flush`'s error, or (aborted meanwhile) with its signal's reason.
   */
  flush: (group: Pending<TInput, TOutput>[]) => Promise<void>;
  /**
   * What an abort does to a submission whose group is already running. `false`: it is rejected
   * at once (reads and embeddings: nothing the caller must wait for). `true`: it is rejected only
   * once its group's request has settled, so that a caller who stops never leaves a write of
   * its own still in flight behind it.
   * @defaultValue false
   */
  settleBeforeAbort?: boolean;
  /**
   * How many groups may run at once. With 1, submissions that arrive while a group runs wait for
   * it and then go together; with more, a submission starts a group at once while fewer run (for
   * an endpoint whose latency, not its request count, is what limits).
   * @defaultValue 1
   */
  concurrency?: number;
}

/**
 * Group commit for requests whose cost is mostly per request (a Chroma write or read, an
 * embeddings call): `concurrency` groups (one by default) run at a time; submissions that arrive
 * meanwhile wait and then go together in the next group. A lone submission runs at once, with no
 * added delay.
 *
 * Guarantees:
 * - submissions are grouped in the order they arrive;
 * - aborting a submission's signal while it waits rejects it with the signal's reason at once and
 *   leaves it out of every group; while its group runs, see `settleBeforeAbort`;
 * - a submission settles once.
 */
export class GroupCommit<TInput, TOutput> {
  readonly #o: GroupCommitOptions<TInput, TOutput>;
  readonly #waiting: Pending<TInput, TOutput>[] = [];
  readonly #flushing = new Set<Pending<TInput, TOutput>>();
  readonly #concurrency: number;
  #running = 0;

  constructor(options: GroupCommitOptions<TInput, TOutput>) {
    this.#o = options;
    this.#concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
  }

  /** Submits `input` and resolves with what its group's `flush` gave it. */
  submit(input: TInput, signal?: AbortSignal): Promise<TOutput> {
    signal?.throwIfAborted();
    return new Promise<TOutput>((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        const at = this.#waiting.indexOf(pending);
        if (at >= 0) this.#waiting.splice(at, 1);
        else if (this.#o.settleBeforeAbort && this.#flushing.has(pending)) return; // rejected after the flush
        // Rejected with exactly what the caller aborted with (an Error or not), as fetch does.
        settle(() => reject(signal!.reason as Error));
      };
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        finish();
      };
      const pending: Pending<TInput, TOutput> = {
        input,
        signal,
        resolve: (value) => settle(() => resolve(value)),
        reject: (err) => settle(() => reject(err)),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(pending);
      this.#pump();
    });
  }

  /** Starts groups of waiting submissions while fewer than `concurrency` run. */
  #pump(): void {
    while (this.#running < this.#concurrency && this.#waiting.length > 0) {
      const size = this.#o.groupSize(this.#waiting.map((p) => p.input));
      const group = this.#waiting.splice(0, Math.min(Math.max(1, size), this.#waiting.length));
      this.#running += 1;
      void this.#flush(group).finally(() => {
        this.#running -= 1;
        this.#pump();
      });
    }
  }

  /** Runs one group and settles every submission in it. */
  async #flush(group: Pending<TInput, TOutput>[]): Promise<void> {
    for (const pending of group) this.#flushing.add(pending);
    let failure: unknown;
    try {
      await this.#o.flush(group);
    } catch (err) {
      failure = err;
    }
    for (const pending of group) {
      this.#flushing.delete(pending);
      if (pending.signal?.aborted) pending.reject(pending.signal.reason as Error);
      else if (failure !== undefined) pending.reject(failure as Error);
      // A flush that neither settled nor failed a submission is a bug; never leave it hanging.
      else pending.reject(new Error('the group was flushed without settling this submission'));
    }
  }
}
