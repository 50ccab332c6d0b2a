import { GroupCommit } from './group-commit.js';

/** Options for {@link ReadCoalescer}. */
export interface ReadCoalescerOptions<TKey, TValue> {
  /** Most keys in one read. */
  maxKeys: number;
  /** Reads the values of several keys at once; a key missing from the answer gets `missing()`. */
  read: (keys: TKey[]) => Promise<Map<TKey, TValue>>;
  /** The value of a key the read did not answer. */
  missing: () => TValue;
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
  readonly #reads: GroupCommit<TKey, TValue>;

  constructor(options: ReadCoalescerOptions<TKey, TValue>) {
    this.#reads = new GroupCommit<TKey, TValue>({
      groupSize: (waiting) => {
        const keys = new Set<TKey>();
        let size = 0;
        for (const key of waiting) {
          if (!keys.has(key) && keys.size >= options.maxKeys) break;
          keys.add(key);
          size += 1;
        }
        return size;
      },
      flush: async (group) => {
        const values = await options.read([...new Set(group.map((p) => p.input))]);
        for (const p of group) p.resolve(values.get(p.input) ?? options.missing());
      },
    });
  }

  /** The value of `key`, read alone or together with other lookups. */
  get(key: TKey, signal?: AbortSignal): Promise<TValue> {
    return this.#reads.submit(key, signal);
  }
}
