/**
 * Processes this ijrd did not start: the inits of jobs that kept running while ijrd was down
 * (live restore). ijrd is not their parent, so it cannot waitpid for them, and a bare pid
 * could belong to another process once the init has ended. A pidfd names one process for as
 * long as it is open: it is signalled through (never by pid), and one thread of Deno's
 * blocking pool polls every adopted init's pidfd at once (ffi/process_watch.c).
 * @module
 */

import { enumValue } from "./abi.ts";
import { describeErrno } from "./errno.ts";
import { openLibc } from "./libc.ts";
import { libijr } from "./loader.ts";
import type { WaitResult } from "./spawn.ts";

const ESRCH = 3;
const ECHILD = 10;

/** A pidfd of `pid`; undefined when there is no such process. */
export function openPidfd(pid: number): number | undefined {
  const fd = libijr().ijr_pidfd_open(pid);
  if (fd === -ESRCH) return undefined;
  if (fd < 0) throw new Error(`cannot open a pidfd of process ${pid}: ${describeErrno(-fd)}`);
  return fd;
}

/** Sends `signal` to the pidfd's process; false when it has ended. */
export function signalPidfd(pidfd: number, signal: number): boolean {
  const result = libijr().ijr_pidfd_signal(pidfd, signal);
  if (result === 0) return true;
  if (result === -ESRCH) return false;
  throw new Error(`cannot signal pidfd ${pidfd}: ${describeErrno(-result)}`);
}

/**
 * Reaps the pidfd's process if it is this process's child and has ended: how it ended,
 * `undefined` while it runs, or "not a child" (its parent, not ijrd, reaps it).
 */
export function reapPidfd(pidfd: number): WaitResult | undefined | "not a child" {
  const out = new Int32Array(2);
  const result = libijr().ijr_pidfd_reap(pidfd, new Uint8Array(out.buffer));
  if (result === 0) return undefined;
  if (result === -ECHILD) return "not a child";
  if (result < 0) throw new Error(`cannot reap pidfd ${pidfd}: ${describeErrno(-result)}`);
  return out[0] === enumValue("ijr_end_kind", "exit") ? { exitCode: out[1] } : { signal: out[1] };
}

/** Closes a pidfd (or any descriptor). */
export function closeDescriptor(fd: number): void {
  openLibc().close(fd);
}

/**
 * Calls back once when each watched pidfd's process ends. While anything is watched, one
 * call waits on a blocking-pool thread (which also keeps Deno's event loop alive, as the
 * Reaper's interval does for ijrd's own children); a change of what is watched wakes it.
 */
export class ExitWatch {
  readonly #watched = new Map<number, () => void>();
  #wakeFd = -1;
  #waiting: Promise<void> | undefined;
  #closed = false;

  /** Calls `onExit` once when the pidfd's process has ended. */
  watch(pidfd: number, onExit: () => void): void {
    if (this.#closed) throw new Error("the exit watch is closed");
    this.#watched.set(pidfd, onExit);
    this.#wake();
    this.#waiting ??= this.#loop().finally(() => this.#waiting = undefined);
  }

  /** Stops watching a pidfd (its callback will not be called). */
  unwatch(pidfd: number): void {
    if (this.#watched.delete(pidfd)) this.#wake();
  }

  /** Number of pidfds watched. */
  get size(): number {
    return this.#watched.size;
  }

  /** Stops watching everything and ends the waiting call. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watched.clear();
    this.#wake();
    await this.#waiting;
    if (this.#wakeFd >= 0) closeDescriptor(this.#wakeFd);
    this.#wakeFd = -1;
  }

  #wake(): void {
    if (this.#wakeFd >= 0) libijr().ijr_exit_wake(this.#wakeFd);
  }

  async #loop(): Promise<void> {
    if (this.#wakeFd < 0) {
      const fd = libijr().ijr_exit_wake_make();
      if (fd < 0) throw new Error(`cannot make an eventfd: ${describeErrno(-fd)}`);
      this.#wakeFd = fd;
    }
    while (!this.#closed && this.#watched.size > 0) {
      const pidfds = Int32Array.from(this.#watched.keys());
      const ended = new Uint8Array(pidfds.length);
      const result = await libijr().ijr_wait_exits(
        new Uint8Array(pidfds.buffer),
        pidfds.length,
        this.#wakeFd,
        ended,
      );
      if (result < 0) {
        // poll() fails only without memory or descriptors: say so, and try again shortly.
        console.error(`ijrd: cannot wait for adopted jobs: ${describeErrno(-result)}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      for (const [index, pidfd] of pidfds.entries()) {
        if (!ended[index]) continue;
        const onExit = this.#watched.get(pidfd);
        this.#watched.delete(pidfd);
        onExit?.();
      }
    }
  }
}
