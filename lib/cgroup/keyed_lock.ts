/**
 * One-at-a-time sections per key: the work on one group (make it, put a job in it, remove it
 * when its last job went) must not interleave, or a job would be created in a group that is
 * being removed. Work on different keys runs concurrently. Callers are served in the order
 * they came; a section that throws releases the key all the same.
 * @module
 */

/** A lock per key, held for the duration of an async function. */
export class KeyedLock {
  /** Per busy key, a promise that resolves when the last section queued on it is done. */
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `section` once no earlier section on `key` is running; resolves to its result. */
  async run<T>(key: string, section: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => release = resolve);
    // Tails never reject, so the chain cannot break on a failed section.
    const tail = previous.then(() => done);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await section();
    } finally {
      release();
      // Forget an idle key, so the map holds only keys in use.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** True while a section on `key` runs or waits (for tests and diagnostics). */
  isBusy(key: string): boolean {
    return this.#tails.has(key);
  }
}
