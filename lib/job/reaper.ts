/**
 * Learns when job inits end without a thread per job: one SIGCHLD listener, and on each
 * signal a non-blocking waitpid(pid, WNOHANG) for every init still running. Never
 * waitpid(-1) (it would steal Deno.Command's children) and never SIG_IGN on SIGCHLD.
 * SIGCHLDs coalesce, so every pid is checked on every signal. Deno's signal listeners do not
 * keep the event loop alive, so while any init runs a slow interval does (and doubles as a
 * safety net, checking once a second); both exist only while something is watched.
 * @module
 */

import { reapIfEnded, type WaitResult } from "../native/mod.ts";

/** Watches pids and calls back once per pid when it ends. */
export class Reaper {
  #watched = new Map<number, (result: WaitResult) => void>();
  #listening = false;
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  #onSignal = () => this.#check();

  /** Calls `onExit` once when `pid` (a child of this process) ends. */
  watch(pid: number, onExit: (result: WaitResult) => void): void {
    this.#watched.set(pid, onExit);
    if (!this.#listening) {
      Deno.addSignalListener("SIGCHLD", this.#onSignal);
      this.#keepAlive = setInterval(this.#onSignal, 1000);
      this.#listening = true;
    }
    // It may have ended before the listener was in place.
    this.#check();
  }

  /** Stops watching every pid (ijrd leaves its jobs running: live restore). */
  close(): void {
    this.#watched.clear();
    this.#check();
  }

  /** Number of pids still watched. */
  get size(): number {
    return this.#watched.size;
  }

  #check(): void {
    for (const [pid, onExit] of this.#watched) {
      const result = reapIfEnded(pid);
      if (result === undefined) continue;
      this.#watched.delete(pid);
      onExit(result);
    }
    if (this.#watched.size === 0 && this.#listening) {
      Deno.removeSignalListener("SIGCHLD", this.#onSignal);
      clearInterval(this.#keepAlive);
      this.#listening = false;
    }
  }
}
