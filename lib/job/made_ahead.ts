/**
 * A small reserve of things made ahead of the start that takes one (a job's folders, its
 * namespaces): taken at once when one is ready, made again in the background once the start
 * that took one is done and a moment more, never during it (dispatching to Deno's blocking pool
 * right then holds the JavaScript thread in the middle of a start while a parked pool thread
 * wakes, and the making competes with the start for the VM's vCPUs). The refill is tracked, so
 * `settled()` and `close()` wait for it; one that comes during `close()` makes nothing.
 * @module
 */

import {
  BackgroundWork,
  MAX_REFILL_WAIT_MS,
  settledThenDelay,
  settledWithin,
} from "./background_work.ts";

/** How a reserve is kept. */
export interface MadeAheadOptions<T> {
  /** How many to keep ready (0: none; every taker makes its own). */
  readonly reserve: number;
  /**
   * How long after a take the refill starts when the taker gives no moment of its own (0: the
   * next turn of the event loop).
   */
  readonly refillAfterMs: number;
  /** Makes one; a failure stops this refill (the next take tries again), leaving nothing. */
  readonly make: () => Promise<T>;
  /** Releases one never taken (at close). */
  readonly release: (item: T) => Promise<void> | void;
  /** Where the refills are tracked: the owner's own background work, when it has some. */
  readonly background?: BackgroundWork;
}

/** A reserve of `T`s made ahead. */
export class MadeAhead<T> {
  readonly #options: MadeAheadOptions<T>;
  readonly #ready: T[] = [];
  readonly #background: BackgroundWork;
  #refilling = false;
  #refillQueued = false;
  /** When the queued refill may start: the latest taker's moment. */
  #due: Promise<unknown> | undefined;
  #closed = false;

  constructor(options: MadeAheadOptions<T>) {
    this.#options = options;
    this.#background = options.background ?? new BackgroundWork();
  }

  /** How many are ready now. */
  get ready(): number {
    return this.#ready.length;
  }

  /**
   * One made ahead, or undefined when none is ready. The reserve is refilled once
   * `refillAfter` settles (the taker's own work done), or else `refillAfterMs` from now; a
   * take while a refill waits moves it to this take's moment, and no refill waits longer than
   * {@link MAX_REFILL_WAIT_MS}.
   */
  take(refillAfter?: Promise<unknown>): T | undefined {
    this.#refillSoon(refillAfter);
    return this.#ready.shift();
  }

  /** Resolves once no refill (nor anything else tracked with it) is in flight. */
  settled(): Promise<void> {
    return this.#background.settled();
  }

  /** Waits for the refill and releases every one ready (a later take() refills). */
  async close(): Promise<void> {
    this.#closed = true;
    try {
      await this.settled();
      for (const item of this.#ready.splice(0)) await this.#options.release(item);
    } finally {
      this.#closed = false;
    }
  }

  #refillSoon(refillAfter: Promise<unknown> | undefined): void {
    if (this.#options.reserve === 0) return;
    // The latest taker's moment: a refill queued by an earlier start must not run during a
    // later one's spawn.
    this.#due = refillAfter ?? settledThenDelay(Promise.resolve(), this.#options.refillAfterMs);
    if (this.#refillQueued) return;
    this.#refillQueued = true;
    this.#background.track(
      this.#untilDue().then(() => {
        this.#refillQueued = false;
        this.#refill();
      }),
    );
  }

  /**
   * Waits for the latest moment given, {@link MAX_REFILL_WAIT_MS} at most: starts that keep
   * coming must not keep the reserve empty.
   */
  async #untilDue(): Promise<void> {
    const deadline = performance.now() + MAX_REFILL_WAIT_MS;
    for (;;) {
      const due = this.#due!;
      await settledWithin(due, deadline - performance.now());
      if (due === this.#due || performance.now() >= deadline) return;
    }
  }

  #refill(): void {
    if (this.#refilling || this.#closed || this.#ready.length >= this.#options.reserve) return;
    this.#refilling = true;
    this.#background.track((async () => {
      try {
        while (!this.#closed && this.#ready.length < this.#options.reserve) {
          this.#ready.push(await this.#options.make());
        }
      } catch {
        // The owner's make() says what failed where it matters: the next taker makes its own
        // and reports it; the next take() tries again.
      } finally {
        this.#refilling = false;
      }
    })());
  }
}
