/**
 * Work a job's end or start leaves to run behind the caller's back (a scratch folder or a
 * finished job's folder removed, a job's cgroups removed, the next folder made ahead), kept
 * track of so that `settled()` (tests, benchmarks) and shutdown can wait for all of it.
 * @module
 */

import { setImmediate } from "node:timers";

/**
 * How long the work a job's start or end leaves behind (the next job's folder, spare cgroup
 * and namespaces made ahead; the ended job's cgroups and scratch removed) waits once that
 * start has returned or that end was reported. The answer leaves, and the client's next
 * request (a wait for the job it just started, a start after an end) comes within a round
 * trip, a millisecond or two; done at once, this work ran among those steps, on this thread or
 * on the VM's other vCPU, and held them back (bench/README.md). Later, it runs between steps.
 */
export const BACKGROUND_DELAY_MS = 10;

/**
 * The longest the work a start leaves behind waits for that start: a start that hangs (a state
 * disk that stalls its first record) must not keep the reserves empty for every other start.
 */
export const MAX_REFILL_WAIT_MS = 100;

/** Resolves when `moment` settles, or after `ms`, whichever comes first. */
export function settledWithin(moment: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const capped = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  const settled = moment.then(() => {}, () => {});
  return Promise.race([settled, capped]).finally(() => clearTimeout(timer));
}

/** A promise that resolves `ms` after `after` settles. */
export function settledThenDelay(after: Promise<unknown>, ms: number): Promise<void> {
  const wait = () => new Promise<void>((resolve) => setTimeout(resolve, ms));
  return after.then(wait, wait);
}

/**
 * A promise that resolves in a later turn of the event loop once `after` settles: after the
 * microtasks that follow it, and so after what they do (a start's caller gets its answer, and
 * writes it) before anything waiting on this.
 */
export function nextTurnAfter(after: Promise<unknown>): Promise<void> {
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
  return after.then(nextTurn, nextTurn);
}

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

  /** Tracks `work` from now; it starts once `moment` settles. */
  trackAfter<T>(moment: Promise<unknown>, work: () => Promise<T>): Promise<T> {
    const start = () => work();
    return this.track(moment.then(start, start));
  }

  /** Tracks `work`, started {@link BACKGROUND_DELAY_MS} from now. */
  trackLater<T>(work: () => Promise<T>): Promise<T> {
    return this.trackAfter(settledThenDelay(Promise.resolve(), BACKGROUND_DELAY_MS), work);
  }

  /** Resolves once nothing is in flight, including work tracked while it waits. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled(this.#inFlight);
  }
}
