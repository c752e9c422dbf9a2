/**
 * Work a job's end or start leaves to run behind the caller's back (a scratch folder or a
 * finished job's folder removed, a job's cgroups removed, the next folder made ahead), kept
 * track of so that `settled()` (tests, benchmarks) and shutdown can wait for all of it.
 * @module
 */

/** A set of promises in flight; each leaves the set when it settles. */
export class BackgroundWork {
  readonly #inFlight = new Set<Promise<unknown>>();

  /** Tracks `work` until it settles; returns it. Its rejection is the caller's to handle. */
  track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    const forget = () => this.#inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }

  /** Resolves once nothing is in flight, including work tracked while it waits. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled(this.#inFlight);
  }
}
