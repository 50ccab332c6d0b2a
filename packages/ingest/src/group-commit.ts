/** One submission waiting in a {@link GroupCommit}. */
export interface Pending<TInput, TOutput> {
  readonly input: TInput;
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
  /** Runs one group as one request, and settles every submission in it. */
  flush: (group: Pending<TInput, TOutput>[]) => Promise<void>;
}

/**
 * Group commit for requests whose cost is mostly per request (a Chroma write or read, an
 * embeddings call): one group runs at a time; submissions that arrive meanwhile wait and then go
 * together in the next group. A lone submission runs at once, with no added delay.
 *
 * Guarantees:
 * - submissions are grouped in the order they arrive;
 * - aborting a submission's signal rejects it with the signal's reason at once, and if it was
 *   still waiting it is left out of every group;
 * - a submission settles once: what `flush` does after an abort is ignored.
 */
export class GroupCommit<TInput, TOutput> {
  readonly #o: GroupCommitOptions<TInput, TOutput>;
  readonly #waiting: Pending<TInput, TOutput>[] = [];
  #running = false;

  constructor(options: GroupCommitOptions<TInput, TOutput>) {
    this.#o = options;
  }

  /** Submits `input` and resolves with what its group's `flush` gave it. */
  submit(input: TInput, signal?: AbortSignal): Promise<TOutput> {
    signal?.throwIfAborted();
    return new Promise<TOutput>((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        const at = this.#waiting.indexOf(pending);
        if (at >= 0) this.#waiting.splice(at, 1);
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
        resolve: (value) => settle(() => resolve(value)),
        reject: (err) => settle(() => reject(err)),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(pending);
      if (!this.#running) void this.#drain();
    });
  }

  /** Runs waiting submissions, a group at a time, until none is left. */
  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        const size = this.#o.groupSize(this.#waiting.map((p) => p.input));
        const group = this.#waiting.splice(0, Math.min(Math.max(1, size), this.#waiting.length));
        try {
          await this.#o.flush(group);
        } catch (err) {
          for (const pending of group) pending.reject(err as Error);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
