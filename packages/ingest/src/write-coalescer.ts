/** Options for {@link WriteCoalescer}. */
export interface WriteCoalescerOptions<TItem> {
  /** Most items in one write. A submission larger than this is written alone. */
  maxItems: number;
  /** Writes one batch of items; the batch may hold several callers' items. */
  write: (items: TItem[]) => Promise<void>;
  /** Identity of an item: items with equal keys never share a write (Chroma rejects duplicate IDs in one request). */
  key: (item: TItem) => string;
  /**
   * Whether a failed shared write should be retried once per submission, so that only the
   * submission that caused it fails (e.g. a record Chroma refuses as invalid). Failures for which
   * this is false (Chroma unreachable, say) reach every submission of the write.
   */
  isolate: (err: unknown) => boolean;
}

interface Submission<TItem> {
  items: readonly TItem[];
  resolve: () => void;
  /** Rejects with what the write threw (chromadb and the store throw Errors). */
  reject: (err: Error) => void;
}

/**
 * Group commit for writes whose cost is mostly per request (Chroma 1.0 spends tens of
 * milliseconds on every upsert, whatever its size): one write runs at a time; submissions that
 * arrive meanwhile wait and then go together in the next write, up to `maxItems`. A lone caller
 * is written at once, with no added delay.
 *
 * Guarantees:
 * - a submission's promise resolves only after a write holding all its items succeeded, so a
 *   caller that awaits it knows its items are stored, exactly as with a write of its own;
 * - submissions are written in the order they arrive, and one submission is never split;
 * - aborting a submission's signal rejects it with the signal's reason at once; if it was still
 *   waiting, its items are not written;
 * - a failed shared write is retried per submission when `isolate(err)`, so one bad submission
 *   does not fail the others.
 */
export class WriteCoalescer<TItem> {
  readonly #o: WriteCoalescerOptions<TItem>;
  readonly #waiting: Submission<TItem>[] = [];
  #writing = false;

  constructor(options: WriteCoalescerOptions<TItem>) {
    this.#o = options;
  }

  /** Writes `items`, alone or together with other submissions; see the class comment. */
  submit(items: readonly TItem[], signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (items.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        const at = this.#waiting.indexOf(submission);
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
      const submission: Submission<TItem> = {
        items,
        resolve: () => settle(resolve),
        reject: (err) => settle(() => reject(err)),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(submission);
      if (!this.#writing) void this.#drain();
    });
  }

  /** Writes waiting submissions, a group at a time, until none is left. */
  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#waiting.length > 0) {
        const group = this.#takeGroup();
        await this.#writeGroup(group);
      }
    } finally {
      this.#writing = false;
    }
  }

  /** The longest run of waiting submissions, in order, that fits one write without repeating a key. */
  #takeGroup(): Submission<TItem>[] {
    const group = [this.#waiting.shift()!];
    let size = group[0]!.items.length;
    const keys = new Set(group[0]!.items.map(this.#o.key));
    while (this.#waiting.length > 0) {
      const next = this.#waiting[0]!;
      if (size + next.items.length > this.#o.maxItems) break;
      const nextKeys = next.items.map(this.#o.key);
      if (nextKeys.some((k) => keys.has(k))) break;
      for (const k of nextKeys) keys.add(k);
      size += next.items.length;
      group.push(this.#waiting.shift()!);
    }
    return group;
  }

  async #writeGroup(group: Submission<TItem>[]): Promise<void> {
    try {
      await this.#o.write(group.flatMap((s) => s.items));
      for (const s of group) s.resolve();
    } catch (err) {
      if (group.length === 1 || !this.#o.isolate(err)) {
        for (const s of group) s.reject(err as Error);
        return;
      }
      for (const s of group) {
        try {
          await this.#o.write([...s.items]);
          s.resolve();
        } catch (own) {
          s.reject(own as Error);
        }
      }
    }
  }
}
