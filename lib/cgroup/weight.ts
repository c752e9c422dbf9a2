/**
 * cgroup v2 has no `cpu.shares`; it has `cpu.weight` (1..10000, default 100). Users and the
 * API speak shares (2..262144, default 1024) on every host, so v2 converts them with the
 * formula runc and crun use today. It maps the three fixed points of both scales exactly
 * (2 -> 1, 1024 -> 100, 262144 -> 10000) along a quadratic in log2 space, so that the
 * common values keep their ratios far better than the old linear mapping did
 * (512 -> 59, 2048 -> 174 instead of 50 and 199).
 * @module
 */

import { invalidArgument } from "../errors/mod.ts";

/** Smallest CPU shares value the kernel accepts (v1 `cpu.shares`). */
export const MIN_CPU_SHARES = 2;
/** Largest CPU shares value the kernel accepts (v1 `cpu.shares`). */
export const MAX_CPU_SHARES = 262_144;

/**
 * Converts CPU shares to a v2 `cpu.weight`:
 * `l = log2(shares); weight = ceil(10^((l² + 125·l) / 612 − 7/34))`.
 * Throws INVALID_ARGUMENT for shares outside 2..262144 or not an integer.
 */
export function cpuSharesToWeight(shares: number): number {
  if (!Number.isInteger(shares) || shares < MIN_CPU_SHARES || shares > MAX_CPU_SHARES) {
    throw invalidArgument(
      `CPU shares must be an integer from ${MIN_CPU_SHARES} to ${MAX_CPU_SHARES}, got ${shares}`,
    );
  }
  // The end points are pinned like crun does, so floating point can never push them past
  // the kernel's range (1..10000).
  if (shares === MIN_CPU_SHARES) return 1;
  if (shares === MAX_CPU_SHARES) return 10_000;
  const l = Math.log2(shares);
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  return Math.ceil(Math.pow(10, exponent));
}
