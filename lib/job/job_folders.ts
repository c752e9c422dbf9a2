/**
 * A job's folders on the state disk: made ahead of its start, its scratch folder removed after
 * it ends.
 *
 * Every entry created or removed on the state disk costs a journal update, slow on a busy
 * disk, so a job has as few as possible: its folder, output and end files, plus the overlay's upper
 * and work folders only when its writable layer is on disk (JobScratch). The next job's
 * folder, output file and record temp files are made on Deno's blocking pool while the
 * current job runs (measured: 0.6 to 1.2 ms off a 5 to 6 ms
 * start-to-exit on this project's VM), and a finished job's scratch folder is removed in the
 * background after its end is recorded.
 *
 * A folder made ahead has an ID and no job.json, exactly like a start that crashed before
 * recording: if ijrd stops, JobManager.open removes it. close() waits for the background work
 * and removes the folders made ahead.
 * @module
 */

import { structLayout } from "../native/mod.ts";
import { BACKGROUND_DELAY_MS, BackgroundWork } from "./background_work.ts";
import { newJobId } from "./job_id.ts";
import { MadeAhead } from "./made_ahead.ts";

/**
 * A job's end file as made: zeros, as many as the init's record has bytes. The init writes
 * its record over them, so it needs no free space then: a job's end is recorded also on a
 * state disk that filled up while it ran.
 */
const EMPTY_END_RECORD = new Uint8Array(structLayout("ijr_init_status").size);
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
  readonly #background = new BackgroundWork();
  readonly #ahead: MadeAhead<JobFolder>;

  /**
   * `scratchFolders`: make the overlay's upper and work folders (a disk scratch);
   * `reserve`: how many folders to keep made ahead (default 1; 0: each made on demand).
   */
  constructor(stateDir: string, options: { scratchFolders: boolean; reserve?: number }) {
    this.#stateDir = stateDir;
    this.#scratchFolders = options.scratchFolders;
    // The next job's folder is made once the start that took one is done (make()'s
    // `refillAfter`; else a moment later): made during the spawn, its files took the VM's
    // other vCPU from the pool thread waiting for the spawn's report (bench/README.md). A full
    // or failing disk stops the refill: the next start makes its folder itself and reports it.
    this.#ahead = new MadeAhead({
      reserve: options.reserve ?? 1,
      refillAfterMs: BACKGROUND_DELAY_MS,
      make: () => this.#makeAhead(),
      release: (folder) => this.discard(folder),
      background: this.#background,
    });
  }

  /**
   * A new job's ID, its folder (with scratch folders for a disk scratch), all 0700, and its
   * empty output file (0640): made ahead, or made now (synchronously: a few small steps cost
   * less than round trips through the blocking pool), leaving nothing behind if that fails.
   * The next one is made ahead once `refillAfter` settles.
   */
  make(refillAfter?: Promise<unknown>): JobFolder {
    const ready = this.#ahead.take(refillAfter);
    if (ready) return ready;
    const id = newJobId();
    const paths = jobPaths(this.#stateDir, id);
    try {
      for (const dir of this.#dirsOf(paths)) Deno.mkdirSync(dir, { mode: 0o700 });
      Deno.writeFileSync(paths.output, new Uint8Array(), { mode: 0o640 });
      Deno.writeFileSync(paths.end, EMPTY_END_RECORD, { mode: 0o600 });
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
    // Later: dispatching to the blocking pool holds this thread 70-100 µs, which came before
    // the answer that reports the job's end.
    this.#background.trackLater(() =>
      Deno.remove(paths.scratch, { recursive: true }).catch(() => {})
    );
  }

  /** Resolves once no background work is in flight. */
  settled(): Promise<void> {
    return this.#background.settled();
  }

  /**
   * Waits for the background work and removes the folders made ahead (a later make() starts
   * making them again).
   */
  close(): Promise<void> {
    return this.#ahead.close();
  }

  /** One mkdir per folder, parents first: a recursive mkdir probes every parent first. */
  #dirsOf(paths: JobPaths): string[] {
    return this.#scratchFolders ? [paths.dir, paths.scratch, paths.upper, paths.work] : [paths.dir];
  }

  /** A folder made on the blocking pool; on failure nothing of it is left. */
  async #makeAhead(): Promise<JobFolder> {
    const id = newJobId();
    const paths = jobPaths(this.#stateDir, id);
    try {
      for (const dir of this.#dirsOf(paths)) await Deno.mkdir(dir, { mode: 0o700 });
      // The job's output file, its end file, and the temp files its two records will be
      // written to and renamed from: with them made here, a job creates no file while it
      // starts or ends.
      for (const file of [paths.output, paths.firstRecordTemp, paths.finalRecordTemp]) {
        await Deno.writeFile(file, new Uint8Array(), { mode: 0o640 });
      }
      await Deno.writeFile(paths.end, EMPTY_END_RECORD, { mode: 0o600 });
    } catch (error) {
      await Deno.remove(paths.dir, { recursive: true }).catch(() => {});
      throw error;
    }
    return { id, paths };
  }
}
