/**
 * Followers of a job's output file: each reads the file from its offset (byte 0, or where a
 * client that lost its stream stopped) through its own file handle, sleeps at end of file
 * until the file's shared watcher
 * (output_log.ts) or the end of the job wakes it, and after the job has ended drains to end of
 * file and finishes. Any number of followers, joining at any time, see the same bytes.
 * @module
 */

import { IjrError, invalidArgument } from "../errors/mod.ts";
import { type OutputSubscription, subscribeToOutput } from "./output_log.ts";

/** Bytes read (and at most yielded) per read when `chunkSize` is not given: 64 KiB. */
export const DEFAULT_OUTPUT_CHUNK_SIZE = 64 * 1024;

/** Upper bound for `chunkSize` (16 MiB), so that one reader cannot pin unbounded memory. */
export const MAX_OUTPUT_CHUNK_SIZE = 16 * 1024 * 1024;

/** Options of {@linkcode followOutput}. */
export interface FollowOutputOptions {
  /**
   * Settles (resolved or rejected alike) once the job has ended and can write no more. The
   * follower then reads to end of file and finishes. It must not settle while the job's
   * processes may still write.
   */
  ended: Promise<unknown>;
  /**
   * Cancels the follower: the generator throws `signal.reason`, and its file handle and its
   * share of the watcher are released at once, even while the consumer is not iterating.
   */
  signal?: AbortSignal;
  /** Buffer size and largest chunk yielded, in bytes; default 64 KiB, at most 16 MiB. */
  chunkSize?: number;
  /**
   * The first byte to yield (default 0). The follower seeks to it and reads nothing before it;
   * while the job runs, an offset past what it has written waits for the output to reach it.
   */
  offset?: number;
  /** What the file is, for messages: "job <id>'s output" (default "the output"). */
  name?: string;
}

/**
 * Follows the output file at `path` from `options.offset` (byte 0) and yields its bytes,
 * unchanged and in order, until the job has ended (`options.ended`) and the file is read to
 * its end.
 *
 * - Memory: one buffer of `chunkSize` bytes per follower; each yielded chunk is a fresh copy of
 *   at most `chunkSize` bytes that the consumer owns.
 * - Waiting: at end of file the follower sleeps until the file's shared watcher reports a
 *   change or the job ends; no timers, no polling.
 * - A file that does not exist yet is waited for (its directory must exist). If the job ends
 *   and the file still does not exist, the output is empty and the generator finishes.
 * - Cancelling: abort `options.signal` (works also while a `next()` is pending), or stop
 *   iterating (`break`, `return()`), which JavaScript applies at the next `yield`. A generator
 *   that is neither finished, returned nor aborted keeps its file handle.
 *
 * - An offset is a seek, never a read of the bytes before it: a resumed stream costs what it
 *   sends, and an offset far past the output costs a wait, not a read of all there is. When
 *   the job has ended with less output than the offset: OUT_OF_RANGE naming the output's
 *   length.
 *
 * @throws {IjrError} INVALID_ARGUMENT for a bad path, `ended`, `chunkSize` or `offset`;
 * NOT_FOUND when the file's directory does not exist; INTERNAL when the watcher breaks;
 * OUT_OF_RANGE for an offset past the end of an ended job's output.
 */
export async function* followOutput(
  path: string,
  options: FollowOutputOptions,
): AsyncGenerator<Uint8Array> {
  const { ended, signal } = options ?? {};
  if (typeof path !== "string" || path === "") {
    throw invalidArgument("output path must be a non-empty string");
  }
  if (typeof ended?.then !== "function") {
    throw invalidArgument("followOutput needs options.ended, a promise settled when the job ends");
  }
  const chunkSize = checkChunkSize(options.chunkSize);
  const offset = options.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw invalidArgument(`offset must be an integer from 0 to 2^53-1, got ${offset}`);
  }
  signal?.throwIfAborted();

  const wakeup = new Wakeup();
  // Written by callbacks, read by the loop. The callbacks hold only these small objects,
  // never the buffer, so a follower that left early pins nothing big until `ended` settles.
  const state = { ended: false, watchError: undefined as IjrError | undefined };
  const onEnded = () => {
    state.ended = true;
    wakeup.wake();
  };
  ended.then(onEnded, onEnded);

  let file: Deno.FsFile | undefined;
  let subscription: OutputSubscription | undefined;
  const release = () => {
    file?.close();
    file = undefined;
    subscription?.unsubscribe();
    subscription = undefined;
  };
  // Release at once on abort: the generator itself may be parked at a `yield` for a long time.
  const onAbort = () => {
    release();
    wakeup.wake();
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  try {
    const buffer = new Uint8Array(chunkSize);
    while (true) {
      signal?.throwIfAborted();
      // Arm before looking at the file: a change from here on wakes the wait below, so a write
      // landing between the read that saw end of file and the wait is never missed.
      wakeup.arm();
      // Sampled before the read: only an end of file seen after the job ended is final.
      const endedBeforeRead = state.ended;

      if (file === undefined) {
        const opened = await openIfExists(path);
        if (signal?.aborted) opened?.close();
        signal?.throwIfAborted();
        // Past the end of the file is a valid position: reads see end of file until the
        // output grows beyond it.
        if (opened && offset > 0) await opened.seek(offset, Deno.SeekMode.Start);
        file = opened;
      }
      const count = file === undefined ? null : await readOrAbort(file, buffer, signal);

      if (count !== null) {
        yield buffer.slice(0, count);
        continue;
      }
      if (endedBeforeRead) {
        const length = file === undefined ? 0 : (await file.stat()).size;
        if (length < offset) {
          throw new IjrError(
            "OUT_OF_RANGE",
            `offset ${offset} is past the end of ${options.name ?? "the output"} ` +
              `(${length} bytes)`,
          );
        }
        return;
      }
      if (subscription === undefined) {
        // First end of file: join the watcher lazily (followers that never catch up, or that
        // read a finished job, hold none), then look again before sleeping.
        subscription = subscribeToOutput(path, (error) => {
          state.watchError ??= error;
          wakeup.wake();
        });
        continue;
      }
      await wakeup.wait();
      if (state.watchError !== undefined) throw state.watchError;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    release();
  }
}

/**
 * A reader's wake-up flag. `wake()` may come from the watcher, the end of the job or an abort,
 * at any time; `wait()` resolves at once if a wake-up arrived since `arm()`, else at the next.
 */
class Wakeup {
  #woken = false;
  #resolve: (() => void) | undefined;

  /** Forgets earlier wake-ups: the caller is about to look at the file again. */
  arm(): void {
    this.#woken = false;
  }

  /** Wakes the pending wait, or the next one if none is pending. */
  wake(): void {
    this.#woken = true;
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve?.();
  }

  /** Resolves once `wake()` has been called since the last `arm()`. */
  wait(): Promise<void> {
    if (this.#woken) return Promise.resolve();
    return new Promise((resolve) => this.#resolve = resolve);
  }
}

function checkChunkSize(chunkSize: number | undefined): number {
  if (chunkSize === undefined) return DEFAULT_OUTPUT_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_OUTPUT_CHUNK_SIZE) {
    throw invalidArgument(
      `chunkSize must be an integer from 1 to ${MAX_OUTPUT_CHUNK_SIZE}, got ${chunkSize}`,
    );
  }
  return chunkSize;
}

async function openIfExists(path: string): Promise<Deno.FsFile | undefined> {
  try {
    return await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * `file.read`, reporting an abort during the read (which closes the file under it) as the
 * abort, and never returning bytes once aborted.
 */
async function readOrAbort(
  file: Deno.FsFile,
  buffer: Uint8Array,
  signal: AbortSignal | undefined,
): Promise<number | null> {
  let count: number | null;
  try {
    count = await file.read(buffer);
  } catch (error) {
    signal?.throwIfAborted();
    throw error;
  }
  signal?.throwIfAborted();
  return count;
}
