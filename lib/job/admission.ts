/**
 * Admission of job starts: at most `maxJobs` running on the worker (ijrd --max-jobs) and
 * `maxJobsPerUser` per user (--max-jobs-per-user). A start counts from the moment it is
 * admitted, before anything is created for it, until it fails or its job ends, so starts
 * racing each other cannot overshoot.
 * @module
 */

import { IjrError } from "../errors/mod.ts";

/** The bounds; absent: none. */
export interface AdmissionLimits {
  readonly maxJobs?: number;
  readonly maxJobsPerUser?: number;
}

/** One admitted start; see Admission.admit. */
export interface AdmissionTicket {
  /** Uncounts the start; only the first call counts. */
  release(): void;
}

/** Counts running (and starting) jobs, per user and in all. */
export class Admission {
  readonly #limits: AdmissionLimits;
  readonly #byOwner = new Map<string, number>();
  #total = 0;

  constructor(limits: AdmissionLimits = {}) {
    this.#limits = limits;
  }

  /**
   * Counts a start by `owner`, or throws RESOURCE_EXHAUSTED naming the limit it would pass.
   * The ticket uncounts it: when the start fails, or its job ends, whichever comes first
   * (releasing twice is harmless).
   */
  admit(owner: string): AdmissionTicket {
    const { maxJobs, maxJobsPerUser } = this.#limits;
    if (maxJobs !== undefined && this.#total >= maxJobs) {
      throw new IjrError(
        "RESOURCE_EXHAUSTED",
        `ijrd already runs its limit of ${maxJobs} jobs (--max-jobs); try again when one ends`,
      );
    }
    const mine = this.#byOwner.get(owner) ?? 0;
    if (maxJobsPerUser !== undefined && mine >= maxJobsPerUser) {
      throw new IjrError(
        "RESOURCE_EXHAUSTED",
        `${owner} already runs the limit of ${maxJobsPerUser} jobs per user ` +
          "(--max-jobs-per-user); try again when one ends",
      );
    }
    return this.#count(owner);
  }

  /**
   * Counts a job that already runs: one a restarted ijrd adopted (live restore). It is never
   * refused, even past the limits (lowered since it started): it runs, so it counts.
   */
  readmit(owner: string): AdmissionTicket {
    return this.#count(owner);
  }

  #count(owner: string): AdmissionTicket {
    this.#total++;
    this.#byOwner.set(owner, (this.#byOwner.get(owner) ?? 0) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#release(owner);
      },
    };
  }

  #release(owner: string): void {
    const mine = this.#byOwner.get(owner) ?? 0;
    if (mine <= 1) this.#byOwner.delete(owner);
    else this.#byOwner.set(owner, mine - 1);
    this.#total = Math.max(0, this.#total - 1);
  }

  /** Jobs running or starting. */
  get total(): number {
    return this.#total;
  }
}
