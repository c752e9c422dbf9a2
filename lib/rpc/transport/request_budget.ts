/**
 * What one connection's calls may hold of requests not yet taken by their handlers: messages
 * waiting, and the message each is still receiving (up to 4 MiB each). Past the budget no call on
 * the connection credits the client for more until the handlers have taken some: a connection
 * that opens many streams and sends each a large message, unfinished, holds at most this much
 * (docs/security.md).
 * @module
 */

/** 32 MiB: a hundred uploads' worth of waiting chunks (256 KiB each). */
export const REQUEST_BUDGET_BYTES = 32 * 1024 * 1024;

/** One connection's request bytes held, and the calls waiting for room to credit theirs. */
export class RequestBudget {
  readonly #limit: number;
  #used = 0;
  readonly #waiting = new Set<() => void>();

  constructor(limit = REQUEST_BUDGET_BYTES) {
    this.#limit = limit;
  }

  /** Whether the connection holds its budget's worth or more. */
  get full(): boolean {
    return this.#used >= this.#limit;
  }

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /** A call holds `delta` bytes more (less, when negative); room made wakes the waiting calls. */
  add(delta: number): void {
    this.#used += delta;
    if (delta < 0 && !this.full && this.#waiting.size > 0) {
      const waiting = [...this.#waiting];
      this.#waiting.clear();
      for (const wake of waiting) wake();
    }
  }

  /** Calls `wake` once when room is made (unless forgotten first). */
  whenRoom(wake: () => void): void {
    this.#waiting.add(wake);
  }

  forget(wake: () => void): void {
    this.#waiting.delete(wake);
  }
}
