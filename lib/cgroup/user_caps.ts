/**
 * The caps on one user's jobs together, derived from the caps on all jobs (the worker's):
 * each user gets the share of the worker that its jobs are of the worker's jobs,
 * `--max-jobs-per-user` / `--max-jobs`. With the defaults (256 of 1024) a user may take a
 * quarter of the worker's tasks and memory, so four users fill it, as they do its job slots,
 * and one user's fork bombs leave the other three quarters to the others.
 * @module
 */

import { invalidArgument } from "../errors/mod.ts";
import { validateAllJobsCaps } from "./caps.ts";
import type { AllJobsCaps } from "./types.ts";

/** The smallest per-user pids cap: room for a few jobs' inits and commands. */
export const MIN_USER_PIDS = 16;
/** The smallest per-user memory cap: a few jobs at the smallest memory limit (4 MiB). */
export const MIN_USER_MEMORY_BYTES = 64 * 1024 * 1024;

/** The kernel keeps memory limits in whole pages; a cap floored to them reads back as given. */
const PAGE_SIZE = 4096n;

/** The job counts the worker admits (ijrd's `--max-jobs` and `--max-jobs-per-user`). */
export interface JobCounts {
  /** Jobs running at once on the worker, at least 1. */
  readonly maxJobs: number;
  /** Jobs running at once per user, at least 1. */
  readonly maxJobsPerUser: number;
}

function positiveCount(what: string, value: number): bigint {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw invalidArgument(`${what} must be a whole number of at least 1, got ${value}`);
  }
  return BigInt(value);
}

/**
 * The caps on each user's jobs: each of the worker's caps × (maxJobsPerUser / maxJobs),
 * at least {@link MIN_USER_PIDS} tasks and {@link MIN_USER_MEMORY_BYTES} but never above the
 * worker's cap (a user cannot have more than the worker), floored (memory to whole 4 KiB
 * pages). A worker cap left undefined (none) leaves the user's undefined too.
 * INVALID_ARGUMENT for a worker cap out of the caps' bounds, or a job count that is not a
 * whole number of at least 1.
 */
export function perUserCaps(workerCaps: AllJobsCaps, counts: JobCounts): AllJobsCaps {
  const maxJobs = positiveCount("maxJobs", counts.maxJobs);
  const perUser = positiveCount("maxJobsPerUser", counts.maxJobsPerUser);
  // A user cannot run more than the worker does: the share is at most the whole.
  const [numerator, denominator] = perUser > maxJobs ? [1n, 1n] : [perUser, maxJobs];
  // In BigInt: caps up to 2^53 times job counts would lose digits as floating point.
  const share = (cap: number, unit: bigint, minimum: number): number => {
    const scaled = BigInt(cap) * numerator / denominator;
    const bounded = BigInt(Math.min(cap, Math.max(minimum, Number(scaled))));
    return Number(bounded - bounded % unit);
  };
  const { pids, memoryBytes } = validateAllJobsCaps(workerCaps);
  return {
    pids: pids === undefined ? undefined : share(pids, 1n, MIN_USER_PIDS),
    memoryBytes: memoryBytes === undefined
      ? undefined
      : share(memoryBytes, PAGE_SIZE, MIN_USER_MEMORY_BYTES),
  };
}
