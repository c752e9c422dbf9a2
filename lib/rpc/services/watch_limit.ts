/**
 * How many calls that stay open while a job runs (WaitJob, RunJob and StreamOutput: watches)
 * each user may have at once (ijrd --max-watches-per-user).
 *
 * A watch holds some of ijrd's memory for as long as it is open (an output follower its 64 KiB
 * buffer), and nothing else bounds how many one user opens: HTTP/2 allows billions of streams
 * per connection, and a user may open many connections. Unbounded, one user could fill ijrd's
 * memory and take the worker from everyone (docs/security.md, "What one user can take from the
 * others"). Past the bound a call is RESOURCE_EXHAUSTED before it does anything: a RunJob
 * starts no job. Users are told apart by their certificate's name, as for --max-jobs-per-user.
 * @module
 */

import { IjrError } from "../../errors/mod.ts";

/** The watches open per user, and the bound on them. */
export class WatchLimit {
  /** Most watches one user may have open at once. */
  readonly perUser: number;
  readonly #open = new Map<string, number>();

  constructor(perUser: number) {
    if (!Number.isSafeInteger(perUser) || perUser < 1) {
      throw new RangeError(`a watch limit must be a positive integer, got ${perUser}`);
    }
    this.perUser = perUser;
  }

  /**
   * Counts one watch of `user`, or throws RESOURCE_EXHAUSTED naming the bound when `user`
   * already has as many open. Returns what ends it; calling that again does nothing.
   */
  enter(user: string): () => void {
    const open = this.#open.get(user) ?? 0;
    if (open >= this.perUser) {
      throw new IjrError(
        "RESOURCE_EXHAUSTED",
        `${user} has ${open} calls open that wait for or follow jobs (WaitJob, RunJob, ` +
          `StreamOutput): at most ${this.perUser} at once (--max-watches-per-user); ` +
          "end one first",
      );
    }
    this.#open.set(user, open + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = this.#open.get(user)! - 1;
      if (left === 0) this.#open.delete(user);
      else this.#open.set(user, left);
    };
  }

  /** How many watches `user` has open. */
  openBy(user: string): number {
    return this.#open.get(user) ?? 0;
  }
}
