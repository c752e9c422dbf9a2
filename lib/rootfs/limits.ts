/**
 * Upload limits: what one tarball may cost the worker. The daemon exposes them as flags;
 * the defaults fit a full distribution rootfs (a Debian base image is ~60 MB compressed,
 * ~200 MB and ~10k entries extracted) with a wide margin while keeping a tar bomb from
 * filling the disk.
 * @module
 */

import { invalidArgument } from "../errors/mod.ts";
import { CONFINED_PATH_MAX } from "../native/mod.ts";

/** Limits on one upload. */
export interface RootfsLimits {
  /** Bytes of the gzipped tarball received. Default 2 GiB. */
  maxCompressedBytes: number;
  /** Bytes of content after decompression: file data plus PAX/long-name data. Default 8 GiB. */
  maxExtractedBytes: number;
  /** Archive members (files, directories, links, devices). Default 500,000. */
  maxEntries: number;
  /** Bytes of one member's path or link target. Default and maximum 4096. */
  maxPathBytes: number;
}

const GIB = 1024 ** 3;

/** The defaults, documented on each field. */
export const DEFAULT_ROOTFS_LIMITS: Readonly<RootfsLimits> = Object.freeze({
  maxCompressedBytes: 2 * GIB,
  maxExtractedBytes: 8 * GIB,
  maxEntries: 500_000,
  maxPathBytes: CONFINED_PATH_MAX,
});

/** Fills in defaults and rejects limits that are not positive integers (INVALID_ARGUMENT). */
export function resolveRootfsLimits(limits: Partial<RootfsLimits> = {}): RootfsLimits {
  const resolved = { ...DEFAULT_ROOTFS_LIMITS, ...limits };
  for (const [key, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw invalidArgument(`rootfs limit ${key} must be a positive integer, got ${value}`);
    }
  }
  if (resolved.maxPathBytes > CONFINED_PATH_MAX) {
    throw invalidArgument(
      `rootfs limit maxPathBytes may be at most ${CONFINED_PATH_MAX}, got ${resolved.maxPathBytes}`,
    );
  }
  return resolved;
}
