/**
 * The finished jobs a manager remembers, and their retention. In memory each is a summary
 * (lib/job/types.ts JobSummary: no argv, no env, a short command line), so a worker that
 * keeps thousands of jobs holds kilobytes per job whatever their commands were; the whole
 * status is read back from the job's record when someone asks for it. Only the most recent
 * ended jobs whose argv and env are small (RECENT_STATUSES jobs of at most RECENT_STATUS_BYTES
 * characters each: a few MiB at most) keep their whole status too: "wait, then ask for its status" is the
 * common pattern, and a record read from a busy disk cost a GetJob 10% of its time.
 *
 * Retention (ijrd --retain COUNT, --retain-for DURATION): past either bound the oldest
 * finished jobs (by end time) are removed with their folder (record and output), as they end,
 * at start-up, and when the oldest one's age runs out (one timer, for the oldest only). A
 * delete removes one now.
 * @module
 */

import { shortCommandLine } from "../units/mod.ts";
import { BackgroundWork } from "./background_work.ts";
import { jobPaths, loadJobSync } from "./job_store.ts";
import { COMMAND_SUMMARY_CHARS, type JobStatus, type JobSummary, type Retention } from "./types.ts";

/** The summary of a job's status. */
export function summarize(status: JobStatus): JobSummary {
  const { argv, env: _, ...rest } = status;
  return { ...rest, command: shortCommandLine(argv, COMMAND_SUMMARY_CHARS) };
}

/** How many recently ended jobs keep their whole status in memory. */
export const RECENT_STATUSES = 256;

/** The most characters of argv and env (all their strings) of a status kept in memory. */
export const RECENT_STATUS_BYTES = 4096;

/** Finished jobs, oldest end first, with their retention applied. */
export class FinishedJobs {
  readonly #stateDir: string;
  readonly #retention: Retention;
  /** Insertion order is end order: jobs are added as they end (sorted at start-up). */
  readonly #jobs = new Map<string, JobSummary>();
  /** Whole statuses of the most recently ended jobs with small commands, oldest first. */
  readonly #recent = new Map<string, JobStatus>();
  readonly #removing = new BackgroundWork();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(stateDir: string, retention: Retention = {}) {
    this.#stateDir = stateDir;
    this.#retention = retention;
  }

  /** Adds jobs read at start-up (any order), then applies the retention. */
  load(jobs: readonly JobStatus[]): void {
    const sorted = [...jobs].sort((a, b) => endTime(a) - endTime(b));
    for (const job of sorted) this.#jobs.set(job.id, summarize(job));
    this.#retire();
  }

  /** Adds a job that has just ended, then applies the retention. */
  add(job: JobStatus): void {
    this.#jobs.set(job.id, summarize(job));
    const bytes = [...job.argv, ...job.env].reduce((sum, text) => sum + text.length, 0);
    if (bytes <= RECENT_STATUS_BYTES) {
      this.#recent.set(job.id, job);
      if (this.#recent.size > RECENT_STATUSES) {
        this.#recent.delete(this.#recent.keys().next().value!);
      }
    }
    this.#retire();
  }

  /** The summary of a finished job. */
  summary(id: string): JobSummary | undefined {
    return this.#jobs.get(id);
  }

  /**
   * The whole status of a finished job: kept in memory for a recent one, else read from its
   * record. A record gone or damaged since (it was read or written by this ijrd) leaves the
   * summary, with no argv or env.
   */
  status(id: string): JobStatus | undefined {
    const summary = this.#jobs.get(id);
    if (!summary) return undefined;
    const recent = this.#recent.get(id);
    if (recent) return recent;
    const loaded = loadJobSync(this.#stateDir, id);
    if ("job" in loaded) return loaded.job;
    const { command: _, ...rest } = summary;
    return { ...rest, argv: [], env: [] };
  }

  /** Every summary, oldest end first. */
  all(): IterableIterator<JobSummary> {
    return this.#jobs.values();
  }

  /** Number of finished jobs kept. */
  get size(): number {
    return this.#jobs.size;
  }

  /** Forgets a finished job and removes its folder; false when there is no such job. */
  async delete(id: string): Promise<boolean> {
    if (!this.#jobs.delete(id)) return false;
    this.#recent.delete(id);
    await this.#removeFolder(id);
    this.#schedule();
    return true;
  }

  /** Resolves once every removal begun so far is done. */
  settled(): Promise<void> {
    return this.#removing.settled();
  }

  /** Stops the retention timer (the manager is shutting down). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Removes the jobs past either bound, oldest first, then waits for the next to age out. */
  #retire(): void {
    const { count, forMs } = this.#retention;
    const now = Date.now();
    for (const [id, job] of this.#jobs) {
      const tooMany = count !== undefined && this.#jobs.size > count;
      const tooOld = forMs !== undefined && now - endTime(job) >= forMs;
      if (!tooMany && !tooOld) break;
      this.#jobs.delete(id);
      this.#recent.delete(id);
      void this.#removeFolder(id);
    }
    this.#schedule();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const forMs = this.#retention.forMs;
    const oldest = this.#jobs.values().next();
    if (forMs === undefined || oldest.done) return;
    // setTimeout fires at once past 2^31-1 ms; a later wake-up simply finds nothing to do.
    const due = Math.min(Math.max(endTime(oldest.value) + forMs - Date.now(), 0), 2 ** 31 - 1);
    const timer = setTimeout(() => this.#retire(), due);
    // Retention alone must not keep a process alive that has nothing else to do.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #removeFolder(id: string): Promise<void> {
    const removal = Deno.remove(jobPaths(this.#stateDir, id).dir, { recursive: true })
      .catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) {
          console.error(`ijrd: cannot remove job ${id}'s folder: ${(error as Error).message}`);
        }
      });
    return this.#removing.track(removal);
  }
}

function endTime(job: Pick<JobStatus, "endedAt" | "startedAt">): number {
  return (job.endedAt ?? job.startedAt).getTime();
}
