/**
 * A job's folders on the state disk: made when it starts, its scratch folder removed after
 * it ends.
 *
 * Every entry created or removed on the state disk costs a journal update, slow on a busy
 * disk, so a job has as few as possible: its folder and output file, plus the overlay's
 * upper and work folders only when its writable layer is on disk (JobScratch); the output
 * file is created by ijr_spawn, which opens it for the job anyway. A finished
 * job's scratch folder is removed in the background, after its end is recorded, and close()
 * waits for those removals.
 * @module
 */

import { newJobId } from "./job_id.ts";
import { type JobPaths, jobPaths } from "./job_store.ts";

/** A job's ID and its folders, created and empty. */
export interface JobFolder {
  readonly id: string;
  readonly paths: JobPaths;
}

/** Makes, and later removes, jobs' folders under one state folder. */
export class JobFolders {
  readonly #stateDir: string;
  readonly #scratchFolders: boolean;
  readonly #removals = new Set<Promise<void>>();

  /** `scratchFolders`: make the overlay's upper and work folders (a disk scratch). */
  constructor(stateDir: string, options: { scratchFolders: boolean }) {
    this.#stateDir = stateDir;
    this.#scratchFolders = options.scratchFolders;
  }

  /**
   * A new job's ID and its folder (with scratch folders for a disk scratch), all 0700.
   * Synchronous: a few small steps cost less than round trips through the blocking pool.
   * Leaves nothing behind when it fails.
   */
  make(): JobFolder {
    const id = newJobId();
    const paths = jobPaths(this.#stateDir, id);
    try {
      // One mkdir per folder: a recursive mkdir probes every parent first.
      Deno.mkdirSync(paths.dir, { mode: 0o700 });
      if (this.#scratchFolders) {
        for (const dir of [paths.scratch, paths.upper, paths.work]) {
          Deno.mkdirSync(dir, { mode: 0o700 });
        }
      }
    } catch (error) {
      try {
        Deno.removeSync(paths.dir, { recursive: true });
      } catch { /* never made */ }
      throw error;
    }
    return { id, paths };
  }

  /** Removes a job's whole folder (a start that failed). */
  async discard(folder: JobFolder): Promise<void> {
    await Deno.remove(folder.paths.dir, { recursive: true }).catch(() => {});
  }

  /** Removes a finished job's scratch folder, if it has one, in the background. */
  removeScratch(paths: JobPaths): void {
    if (!this.#scratchFolders) return;
    const removal = Deno.remove(paths.scratch, { recursive: true }).catch(() => {});
    this.#removals.add(removal);
    removal.finally(() => this.#removals.delete(removal));
  }

  /** Waits for the removals in flight. */
  async close(): Promise<void> {
    while (this.#removals.size > 0) await Promise.all(this.#removals);
  }
}
