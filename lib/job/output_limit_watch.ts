/**
 * Watches a running job's output for its limit. The kernel keeps the file at the limit
 * (RLIMIT_FSIZE, set by the init for the command); this tells the job manager when the output has
 * reached it, so the job is stopped the way a timeout stops it.
 *
 * A one-shot inotify watch per job, all on one instance (lib/native/inotify.ts), and it
 * rests: a job writing as fast as it can would otherwise make an event, and a wake-up here,
 * per write. After each event the file's size is looked at, and when it is still under the
 * limit the watch is set again REST_MS later and the size looked at once more: at most one
 * look per REST_MS per job, and none while the job writes nothing.
 * @module
 */

import { OneShotWatches } from "../native/mod.ts";

/** The longest a stop for the output limit lags behind the write that reached it. */
const REST_MS = 10;

/** One inotify instance for every job's output. */
const watches = new OneShotWatches();

/** A running job's output, watched until it reaches its limit or the watch is closed. */
export class OutputLimitWatch {
  readonly #path: string;
  readonly #limit: number;
  readonly #onReached: () => void;
  #wd: number | undefined;
  #rest: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** Calls `onReached` once, when the file at `path` holds `limit` bytes or more. */
  constructor(path: string, limit: number, onReached: () => void) {
    this.#path = path;
    this.#limit = limit;
    this.#onReached = onReached;
    this.#watch();
  }

  /** Stops watching (the job ended). Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#rest);
    if (this.#wd !== undefined) watches.cancel(this.#wd);
    this.#wd = undefined;
  }

  #watch(): void {
    if (this.#closed) return;
    try {
      this.#wd = watches.watch(this.#path, () => this.#onModified());
    } catch {
      return; // the file is gone: the job has ended and been removed
    }
    // Whatever was written while the watch rested.
    this.#check();
  }

  #onModified(): void {
    this.#wd = undefined;
    if (this.#check()) return;
    this.#rest = setTimeout(() => this.#watch(), REST_MS);
  }

  /** True, and the callback made, when the output is at its limit. */
  #check(): boolean {
    if (this.#closed) return true;
    let size: number;
    try {
      size = Deno.statSync(this.#path).size;
    } catch {
      return false;
    }
    if (size < this.#limit) return false;
    this.close();
    this.#onReached();
    return true;
  }
}
