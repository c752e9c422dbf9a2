/**
 * Change notification for job output files: one `Deno.watchFs` watcher per output file, shared
 * by every reader that follows that file, reference-counted and closed when the last reader
 * leaves. Readers (output_reader.ts) use it to sleep at end of file instead of polling.
 *
 * Notifications are hints, never counts. inotify merges identical unread events (100 quick
 * writes gave 98 events here), and Deno forwards events through a small bounded channel with
 * `try_send`, dropping events while it is full (runtime/ops/fs_events.rs). A listener
 * therefore learns only "the file may have changed since you were last told", and the reader
 * re-reads to end of file after every hint. That is safe against drops: an event is dropped
 * only while older ones are still queued, and those are delivered afterwards, so every change
 * is followed by at least one notification.
 *
 * The parent directory is watched, not the file: a non-recursive inotify watch on a directory
 * reports data changes of the files in it, and also reports the output file's creation, so a
 * reader that arrives before the file exists needs no second mechanism. Events about other
 * entries of the directory (job.json and its temp files) are filtered out by path.
 *
 * Costs, checked on Deno 2.9.6: Deno keeps one inotify instance per isolate for all watchers
 * (200 open watchers = 1 inotify fd), so `fs.inotify.max_user_instances` (128) is no limit;
 * each watcher is one inotify watch (`max_user_watches`), removed when the watcher closes.
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { IjrError, notFound } from "../errors/mod.ts";

/** Called when the followed file may have changed; `error` is set when the watch broke. */
export type OutputChangeListener = (error?: IjrError) => void;

/** One reader's share of an output file's watcher. */
export interface OutputSubscription {
  /** Leaves the shared watcher and closes it if this was the last share. Idempotent. */
  unsubscribe(): void;
}

/** The watcher of one output file and the readers currently sharing it. */
interface SharedWatch {
  readonly watcher: Deno.FsWatcher;
  readonly listeners: Set<OutputChangeListener>;
  closed: boolean;
}

/** Live watchers, keyed by the canonical path of the output file they report on. */
const watches = new Map<string, SharedWatch>();

/** Watchers opened and not yet closed; counted apart from `watches` so a leak shows. */
let openWatchers = 0;

/**
 * Subscribes `listener` to changes of the output file at `path`, creating the file's shared
 * watcher if no other reader holds it. The file need not exist yet (its creation is reported);
 * its directory must.
 *
 * @throws {IjrError} NOT_FOUND when the file's directory does not exist.
 */
export function subscribeToOutput(
  path: string,
  listener: OutputChangeListener,
): OutputSubscription {
  const target = canonicalOutputPath(path);
  let shared = watches.get(target);
  if (shared === undefined) {
    shared = openSharedWatch(target);
    watches.set(target, shared);
  }
  shared.listeners.add(listener);
  const held = shared;
  let subscribed = true;
  return {
    unsubscribe() {
      if (!subscribed) return;
      subscribed = false;
      held.listeners.delete(listener);
      if (held.listeners.size === 0) closeSharedWatch(target, held);
    },
  };
}

/** How many output watchers are open right now (for tests and diagnostics). */
export function outputWatcherCount(): number {
  return openWatchers;
}

/**
 * The absolute path, with symlinks resolved, under which the file's events are reported.
 * Readers that spell the same file differently (relative path, symlinked directory) must map
 * to one key so that they share one watcher.
 */
function canonicalOutputPath(path: string): string {
  const absolute = resolve(path);
  try {
    return Deno.realPathSync(absolute);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  // The file does not exist yet: resolve its directory, keep the name as given.
  try {
    return join(Deno.realPathSync(dirname(absolute)), basename(absolute));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw notFound(`output directory does not exist: ${dirname(absolute)}`);
    }
    throw error;
  }
}

function openSharedWatch(target: string): SharedWatch {
  const directory = dirname(target);
  const shared: SharedWatch = {
    watcher: Deno.watchFs(directory, { recursive: false }),
    listeners: new Set(),
    closed: false,
  };
  openWatchers++;
  void pumpEvents(shared, target, directory);
  return shared;
}

/** Forwards the watcher's relevant events to the listeners until the watcher is closed. */
async function pumpEvents(shared: SharedWatch, target: string, directory: string): Promise<void> {
  let failure: unknown = undefined;
  try {
    for await (const event of shared.watcher) {
      if (isAboutTarget(event, target, directory)) {
        for (const listener of shared.listeners) listener();
      }
    }
  } catch (error) {
    failure = error;
  }
  if (shared.closed) return; // closed by its last reader: the normal end
  // The watch ended on its own: readers would sleep forever, so tell them and forget it.
  closeSharedWatch(target, shared);
  const reason = failure instanceof Error ? failure.message : "the watch ended unexpectedly";
  const error = new IjrError("INTERNAL", `watching output ${target} failed: ${reason}`, {
    cause: failure,
  });
  for (const listener of shared.listeners) listener(error);
}

/**
 * Whether an event may concern the output file. Unknown shapes (no paths, a rescan after an
 * inotify queue overflow) count as relevant: a spurious wake-up costs one read, a missed one
 * stalls a reader.
 */
function isAboutTarget(event: Deno.FsEvent, target: string, directory: string): boolean {
  if (event.flag === "rescan" || event.paths.length === 0) return true;
  return event.paths.some((path) => path === target || path === directory);
}

function closeSharedWatch(target: string, shared: SharedWatch): void {
  if (shared.closed) return;
  shared.closed = true;
  openWatchers--;
  if (watches.get(target) === shared) watches.delete(target);
  try {
    shared.watcher.close();
  } catch (error) {
    // A watcher that failed on its own may already be gone; there is nothing left to release.
    if (!(error instanceof Deno.errors.BadResource)) throw error;
  }
}
