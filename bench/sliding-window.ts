/**
 * A budget of units (requests, tokens) per sliding window, as a rate-limited provider enforces it:
 * what was spent in the last `windowMs` counts, and each spending comes back exactly `windowMs`
 * after it was made.
 */
export class SlidingWindow {
  /** Units the window allows. */
  readonly budget: number;
  /** Length of the window, ms. */
  readonly windowMs: number;
  /** Spendings still in the window, oldest first (from `#head` on). */
  readonly #entries: { at: number; amount: number }[] = [];
  #head = 0;
  #used = 0;

  constructor(budget: number, windowMs: number) {
    if (!(budget > 0) || !(windowMs > 0)) {
      throw new RangeError(
        `SlidingWindow needs a positive budget and window, got ${budget} per ${windowMs} ms`,
      );
    }
    this.budget = budget;
    this.windowMs = windowMs;
  }

  /** Units spent in the window ending at `now`. */
  used(now: number): number {
    this.#expire(now);
    return this.#used;
  }

  /** Units still available at `now`. */
  remaining(now: number): number {
    return Math.max(0, this.budget - this.used(now));
  }

  /**
   * Milliseconds from `now` until `amount` more units fit: 0 when they fit now, `Infinity` when
   * `amount` exceeds the whole budget.
   */
  waitFor(amount: number, now: number): number {
    if (amount > this.budget) return Infinity;
    let over = this.used(now) + amount - this.budget;
    for (let i = this.#head; over > 0 && i < this.#entries.length; i++) {
      const entry = this.#entries[i]!;
      over -= entry.amount;
      if (over <= 0) return entry.at + this.windowMs - now;
    }
    return 0;
  }

  /** Milliseconds from `now` until the window is empty, i.e. the whole budget is back. */
  resetIn(now: number): number {
    this.#expire(now);
    const newest = this.#entries.at(-1);
    return this.#used > 0 && newest ? newest.at + this.windowMs - now : 0;
  }

  /** Spends `amount` units at `now` (the caller checked {@link SlidingWindow.waitFor}). */
  spend(amount: number, now: number): void {
    this.#expire(now);
    this.#entries.push({ at: now, amount });
    this.#used += amount;
  }

  #expire(now: number): void {
    while (this.#head < this.#entries.length && this.#entries[this.#head]!.at + this.windowMs <= now) {
      this.#used -= this.#entries[this.#head]!.amount;
      this.#head++;
    }
    // Drop the expired prefix now and then rather than shifting on every expiry.
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
