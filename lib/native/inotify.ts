/**
 * One-shot inotify watches for the whole process, woken by SIGIO: no thread waits on the
 * inotify descriptor and nothing polls it. The descriptor is non-blocking and signal-driven
 * (O_ASYNC, owned by this process): when events arrive the kernel sends SIGIO, and the
 * listener reads until EAGAIN and calls each watch's handler. Every watch is IN_ONESHOT: the
 * kernel removes it at its first event, so a file written many times a millisecond costs
 * one event until the watch is set again.
 *
 * One instance serves any number of watches, so fs.inotify.max_user_instances (128 by
 * default) is no limit; each watch counts against fs.inotify.max_user_watches.
 * @module
 */

import { describeErrno } from "./errno.ts";
import { cString, lastErrno, openLibc } from "./libc.ts";

const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
const IN_MODIFY = 0x2;
const IN_ONESHOT = 0x80000000;
const IN_IGNORED = 0x8000;
const IN_Q_OVERFLOW = 0x4000;
const F_SETOWN = 8;
const F_GETFL = 3;
const F_SETFL = 4;
const O_ASYNC = 0o20000;
const EAGAIN = 11;
const EVENT_HEADER = 16; // struct inotify_event: wd, mask, cookie, len, then the name

/** One-shot watches on files' modifications, all on one inotify instance. */
export class OneShotWatches {
  #fd = -1;
  readonly #handlers = new Map<number, () => void>();
  readonly #buffer = new Uint8Array(64 * 1024);
  #listening = false;
  readonly #onSignal = () => this.#drain();

  /**
   * Calls `onModified` once, at the next modification of the file at `path` (resolved now,
   * symlinks followed). Returns the watch, to cancel with `cancel`.
   */
  watch(path: string, onModified: () => void): number {
    const libc = openLibc();
    // The listener first. Until a process has a SIGIO listener, SIGIO has its default action,
    // which ends the process: an event between inotify_add_watch and the listener (a job that
    // writes at once, as ijrd's first job of its life may) killed ijrd ("I/O possible").
    if (!this.#listening) {
      Deno.addSignalListener("SIGIO", this.#onSignal);
      this.#listening = true;
    }
    const fd = this.#open();
    const wd = libc.inotify_add_watch(fd, cString(path), (IN_MODIFY | IN_ONESHOT) >>> 0);
    if (wd < 0) {
      const reason = describeErrno(lastErrno());
      this.#quietIfIdle();
      throw new Error(`cannot watch ${path}: ${reason}`);
    }
    this.#handlers.set(wd, onModified);
    // Events may have come before the handler was in place.
    this.#drain();
    return wd;
  }

  /** Cancels a watch that has not fired yet; a fired one is already gone. */
  cancel(wd: number): void {
    if (!this.#handlers.delete(wd)) return;
    // EINVAL: it fired meanwhile and the kernel removed it; its event finds no handler.
    openLibc().inotify_rm_watch(this.#fd, wd);
    this.#quietIfIdle();
  }

  /** Watches waiting for their event. */
  get size(): number {
    return this.#handlers.size;
  }

  #open(): number {
    if (this.#fd >= 0) return this.#fd;
    const libc = openLibc();
    const fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) throw new Error(`inotify_init1 failed: ${describeErrno(lastErrno())}`);
    // Signal-driven: SIGIO to this process whenever events become readable.
    const flags = libc.fcntl(fd, F_GETFL, 0);
    if (
      flags < 0 || libc.fcntl(fd, F_SETOWN, libc.getpid()) !== 0 ||
      libc.fcntl(fd, F_SETFL, flags | O_ASYNC) !== 0
    ) {
      const reason = describeErrno(lastErrno());
      libc.close(fd);
      throw new Error(`cannot make the inotify descriptor signal-driven: ${reason}`);
    }
    this.#fd = fd;
    return fd;
  }

  #drain(): void {
    if (this.#fd < 0) return;
    const libc = openLibc();
    while (true) {
      const got = Number(libc.read(this.#fd, this.#buffer, BigInt(this.#buffer.length)));
      if (got <= 0) {
        if (got < 0 && lastErrno() !== EAGAIN) {
          console.error(`ijrd: reading inotify events failed: ${describeErrno(lastErrno())}`);
        }
        break;
      }
      const view = new DataView(this.#buffer.buffer, 0, got);
      for (let at = 0; at + EVENT_HEADER <= got;) {
        const wd = view.getInt32(at, true);
        const mask = view.getUint32(at + 4, true);
        const nameLength = view.getUint32(at + 12, true);
        at += EVENT_HEADER + nameLength;
        if (mask & IN_Q_OVERFLOW) {
          // Events were lost: every handler looks for itself.
          const all = [...this.#handlers.values()];
          this.#handlers.clear();
          for (const handler of all) handler();
          continue;
        }
        if (mask & IN_IGNORED && !(mask & IN_MODIFY)) continue;
        const handler = this.#handlers.get(wd);
        if (!handler) continue;
        this.#handlers.delete(wd);
        handler();
      }
    }
    this.#quietIfIdle();
  }

  #quietIfIdle(): void {
    if (this.#handlers.size > 0 || !this.#listening) return;
    Deno.removeSignalListener("SIGIO", this.#onSignal);
    this.#listening = false;
  }
}
