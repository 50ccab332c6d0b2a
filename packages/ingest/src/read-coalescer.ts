/** Options for {@link ReadCoalescer}. */
export interface ReadCoalescerOptions<TKey, TValue> {
  /** Most keys in one read. */
  maxKeys: number;
  /** Reads the values of several keys at once; a key missing from the answer gets `missing()`. */
  read: (keys: TKey[]) => Promise<Map<TKey, TValue>>;
  /** The value of a key the read did not answer. */
  missing: () => TValue;
}

interface Waiter<TKey, TValue> {
  key: TKey;
  resolve: (value: TValue) => void;
  reject: (err: Error) => void;
}

/**
 * Batches lookups whose cost is mostly per request (a Chroma `get` per document): one read runs
 * at a time; keys asked for meanwhile wait and then go together in the next read, up to
 * `maxKeys`. A lone lookup is read at once, with no added delay.
 *
 * Guarantees: every lookup gets the value read for its key by a read that started after the
 * lookup was made (never an older answer); aborting a lookup's signal rejects it with the
 * signal's reason at once; a failed read rejects every lookup it carried.
 */
export class ReadCoalescer<TKey, TValue> {
  readonly #o: ReadCoalescerOptions<TKey, TValue>;
  readonly #waiting: Waiter<TKey, TValue>[] = [];
  #reading = false;

  constructor(options: ReadCoalescerOptions<TKey, TValue>) {
    this.#o = options;
  }

  /** The value of `key`, read alone or together with other lookups. */
  get(key: TKey, signal?: AbortSignal): Promise<TValue> {
    signal?.throwIfAborted();
    return new Promise<TValue>((resolve, reject) => {
      const onAbort = () => {
        const at = this.#waiting.indexOf(waiter);
        if (at >= 0) this.#waiting.splice(at, 1);
        // Rejected with exactly what the caller aborted with, as fetch does.
        waiter.reject(signal!.reason as Error);
      };
      let settled = false;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        finish();
      };
      const waiter: Waiter<TKey, TValue> = {
        key,
        resolve: (value) => settle(() => resolve(value)),
        reject: (err) => settle(() => reject(err)),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
      if (!this.#reading) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#reading = true;
    try {
      while (this.#waiting.length > 0) {
        const group: Waiter<TKey, TValue>[] = [];
        const keys = new Set<TKey>();
        while (this.#waiting.length > 0) {
          const next = this.#waiting[0]!;
          if (!keys.has(next.key) && keys.size >= this.#o.maxKeys) break;
          keys.add(next.key);
          group.push(this.#waiting.shift()!);
        }
        try {
          const values = await this.#o.read([...keys]);
          for (const w of group) w.resolve(values.get(w.key) ?? this.#o.missing());
        } catch (err) {
          for (const w of group) w.reject(err as Error);
        }
      }
    } finally {
      this.#reading = false;
    }
  }
}
