import { GroupCommit, type Pending } from './group-commit.js';

/** Options for {@link WriteCoalescer}. */
export interface WriteCoalescerOptions<TItem> {
  /** Most items in one write. A submission larger than this is written alone. */
  maxItems: number;
  /**
   * Writes one batch of items; the batch may hold several callers' items. `signal` aborts when
   * any of their signals does: the request must then be cancelled and settle before the promise
   * rejects (the write coalescer never lets a caller go while its write may still land).
   */
  write: (items: TItem[], signal: AbortSignal | undefined) => Promise<void>;
  /** Identity of an item: items with equal keys never share a write (Chroma rejects duplicate IDs in one request). */
  key: (item: TItem) => string;
  /**
   * Whether a failed shared write should be retried once per submission, so that only the
   * submission that caused it fails (e.g. a record Chroma refuses as invalid). Failures for which
   * this is false (Chroma unreachable, say) reach every submission of the write.
   */
  isolate: (err: unknown) => boolean;
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
 * - aborting a submission's signal rejects it with the signal's reason: at once if it was still
 *   waiting (its items are then never written); if its write was under way, that request is
 *   cancelled and the rejection comes only once it has settled, so that no write of a caller
 *   that stopped can land afterwards (the others of that request go again without it);
 * - a failed shared write is retried per submission when `isolate(err)`, so one bad submission
 *   does not fail the others.
 */
export class WriteCoalescer<TItem> {
  readonly #o: WriteCoalescerOptions<TItem>;
  readonly #writes: GroupCommit<readonly TItem[], void>;

  constructor(options: WriteCoalescerOptions<TItem>) {
    this.#o = options;
    this.#writes = new GroupCommit<readonly TItem[], void>({
      groupSize: (waiting) => this.#groupSize(waiting),
      flush: (group) => this.#writeGroup(group),
      settleBeforeAbort: true,
    });
  }

  /** Writes `items`, alone or together with other submissions; see the class comment. */
  async submit(items: readonly TItem[], signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (items.length === 0) return;
    await this.#writes.submit(items, signal);
  }

  /** The longest run of waiting submissions, in order, that fits one write without repeating a key. */
  #groupSize(waiting: readonly (readonly TItem[])[]): number {
    let size = 0;
    const keys = new Set<string>();
    let count = 0;
    for (const items of waiting) {
      const itemKeys = items.map(this.#o.key);
      if (count > 0 && (size + items.length > this.#o.maxItems || itemKeys.some((k) => keys.has(k)))) break;
      for (const k of itemKeys) keys.add(k);
      size += items.length;
      count += 1;
    }
    return count;
  }

  async #writeGroup(group: Pending<readonly TItem[], void>[]): Promise<void> {
    const signals = group.flatMap((s) => (s.signal ? [s.signal] : []));
    try {
      await this.#o.write(
        group.flatMap((s) => s.input),
        signals.length ? AbortSignal.any(signals) : undefined,
      );
      for (const s of group) s.resolve();
    } catch (err) {
      // The request has settled: let the aborted submitters go now. The others of a request
      // cancelled for an aborted submission, or of one that failed for one submission's records
      // (`isolate`), go again, each alone.
      const live = group.filter((s) => !s.signal?.aborted);
      for (const s of group) if (s.signal?.aborted) s.reject(s.signal.reason as Error);
      const cancelledForOthers = live.length < group.length;
      if (!cancelledForOthers && (group.length === 1 || !this.#o.isolate(err))) throw err;
      for (const s of live) {
        try {
          await this.#o.write([...s.input], s.signal);
          s.resolve();
        } catch (own) {
          s.reject(own as Error);
        }
      }
    }
  }
}
