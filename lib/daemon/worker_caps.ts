/**
 * Caps on everything all jobs use together (ijrd --max-pids, --max-memory), set on ijrd's
 * job parent cgroup. "auto" leaves the host and ijrd their share: half of the tasks the
 * kernel allows (the smaller of kernel.pid_max and kernel.threads-max), and the memory ijrd's
 * job parent may use less max(1 GiB, 10%).
 *
 * And the caps on each user's jobs together (--max-pids-per-user, --max-memory-per-user), set
 * on each user's group below the job parent. "auto" gives each user the share of the worker
 * that --max-jobs-per-user is of --max-jobs, so one user's fork bombs leave the others theirs.
 * @module
 */

import {
  type AllJobsCaps,
  type HostTaskLimits,
  type JobCounts,
  MIN_USER_MEMORY_BYTES,
  MIN_USER_PIDS,
  perUserCaps,
} from "../cgroup/mod.ts";
import { parseByteSize } from "../units/mod.ts";
import { PreflightError } from "./preflight.ts";

const GIB = 1024 ** 3;
/** The smallest --max-memory that makes sense: a few jobs at the smallest memory limit. */
const MIN_CAP_MEMORY = 64 * 1024 ** 2;
/** The smallest --max-pids: more than one job's init and command. */
const MIN_CAP_PIDS = 16;

/** What the flags ask for. */
export interface CapFlags {
  readonly maxPids: string;
  readonly maxMemory: string;
}

/** What the host has, read at start-up. */
export interface HostCapacity {
  readonly tasks: HostTaskLimits;
  /** The memory ijrd's job parent may use (before its own cap is set). */
  readonly memoryBytes: number;
}

/** What the per-user flags ask for. */
export interface UserCapFlags {
  readonly maxPidsPerUser: string;
  readonly maxMemoryPerUser: string;
}

/** A task count flag: a positive integer of at least `minimum`. */
function taskCount(flag: string, value: string, minimum: number): number {
  if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new PreflightError(`${flag} must be a positive integer or "auto", got "${value}"`);
  }
  const pids = Number(value);
  if (pids < minimum) {
    throw new PreflightError(`${flag} must be at least ${minimum}, got ${pids}`);
  }
  return pids;
}

/** A memory flag: a size of at least `minimum` bytes (64m for both). */
function memorySize(flag: string, value: string, minimum: number): number {
  let bytes: number;
  try {
    bytes = parseByteSize(value);
  } catch (error) {
    throw new PreflightError(`${flag}: ${(error as Error).message} (or "auto")`);
  }
  if (bytes < minimum) {
    throw new PreflightError(`${flag} must be at least 64m, got ${value}`);
  }
  return bytes;
}

/** The caps in force, from the flags and the host. */
export function resolveWorkerCaps(flags: CapFlags, host: HostCapacity): Required<AllJobsCaps> {
  const pids = flags.maxPids === "auto"
    ? Math.max(MIN_CAP_PIDS, Math.floor(Math.min(host.tasks.pidMax, host.tasks.threadsMax) / 2))
    : taskCount("--max-pids", flags.maxPids, MIN_CAP_PIDS);
  let memoryBytes: number;
  if (flags.maxMemory === "auto") {
    const reserve = Math.max(GIB, Math.floor(host.memoryBytes / 10));
    memoryBytes = Math.max(MIN_CAP_MEMORY, host.memoryBytes - reserve);
  } else {
    memoryBytes = memorySize("--max-memory", flags.maxMemory, MIN_CAP_MEMORY);
  }
  return { pids, memoryBytes };
}

/**
 * The caps on each user's jobs together: "auto" is the worker's caps × (--max-jobs-per-user /
 * --max-jobs) (lib/cgroup's perUserCaps); a number is taken as given, but never above the
 * worker's cap (a user cannot have more than all users together).
 */
export function resolveUserCaps(
  flags: UserCapFlags,
  workerCaps: Required<AllJobsCaps>,
  counts: JobCounts,
): Required<AllJobsCaps> {
  const auto = perUserCaps(workerCaps, counts) as Required<AllJobsCaps>;
  const pids = flags.maxPidsPerUser === "auto"
    ? auto.pids
    : taskCount("--max-pids-per-user", flags.maxPidsPerUser, MIN_USER_PIDS);
  if (pids > workerCaps.pids) {
    throw new PreflightError(
      `--max-pids-per-user ${pids} is above --max-pids ${workerCaps.pids}`,
    );
  }
  const memoryBytes = flags.maxMemoryPerUser === "auto"
    ? auto.memoryBytes
    : memorySize("--max-memory-per-user", flags.maxMemoryPerUser, MIN_USER_MEMORY_BYTES);
  if (memoryBytes > workerCaps.memoryBytes) {
    throw new PreflightError(
      `--max-memory-per-user ${flags.maxMemoryPerUser} is above --max-memory ` +
        `(${workerCaps.memoryBytes} bytes)`,
    );
  }
  return { pids, memoryBytes };
}
