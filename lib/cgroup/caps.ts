/**
 * Caps on what all jobs use together (`--max-pids`, `--max-memory`), kept by the kernel on
 * the job parent, and on what all jobs of one user use together, kept on the user's group:
 * the bounds a cap must be in, how cgroup limit files spell "no limit", and how much memory
 * the job parent can get at most.
 *
 * The bounds are those of one job's limits (limits.ts): pids 2..4194304, memory at least
 * 4 MiB. A cap smaller than one job's limit is allowed: the jobs then share the cap, and a
 * job is refused a fork or OOM-killed at the cap before its own limit.
 * @module
 */

import { IjrError, invalidArgument } from "../errors/mod.ts";
import type { MemoryLimitAt } from "./backend.ts";
import { validateMemoryBytes, validatePids } from "./limits.ts";
import type { AllJobsCaps, MemoryAvailable } from "./types.ts";

/**
 * Checks both caps; INVALID_ARGUMENT naming the cap otherwise. `on` says what they cap in the
 * message: "all jobs" (the job parent) or "all jobs of user-alice-2bd806c9" (a user's group).
 */
export function validateAllJobsCaps(caps: AllJobsCaps, on = "all jobs"): AllJobsCaps {
  const checked = (what: string, check: () => number): number => {
    try {
      return check();
    } catch (error) {
      if (!(error instanceof IjrError)) throw error;
      throw invalidArgument(`${what} on ${on}: ${error.message}`);
    }
  };
  const pids = caps.pids;
  const memoryBytes = caps.memoryBytes;
  return {
    pids: pids === undefined ? undefined : checked("pids cap", () => validatePids(pids)),
    memoryBytes: memoryBytes === undefined
      ? undefined
      : checked("memory cap", () => validateMemoryBytes(memoryBytes)),
  };
}

/**
 * Parses a cgroup limit file (`pids.max`, `memory.max`, v1 `memory.limit_in_bytes`) into a
 * number, or undefined for no limit: "max", or a value past the safe integers (v1 shows "no
 * memory limit" as the page counter's maximum, 9223372036854771712 with 4 KiB pages).
 */
export function parseLimitValue(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === "max") return undefined;
  if (!/^\d+$/.test(trimmed)) throw new Error(`unexpected cgroup limit value "${trimmed}"`);
  const value = BigInt(trimmed);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(value);
}

/**
 * The memory the job parent can get at most: the smallest limit on the path (`limits`, from
 * the job parent up), or the host's memory when that is smaller or no cgroup has a limit
 * (no cgroup can use more memory than the host has).
 */
export function smallestMemoryLimit(
  limits: readonly MemoryLimitAt[],
  memTotalBytes: number,
): MemoryAvailable {
  let smallest: MemoryAvailable = { bytes: memTotalBytes, source: "/proc/meminfo" };
  for (const { dir, bytes } of limits) {
    if (bytes !== undefined && bytes < smallest.bytes) smallest = { bytes, source: dir };
  }
  return smallest;
}
