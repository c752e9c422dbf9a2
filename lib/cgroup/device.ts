/**
 * Block devices for IOPS limits. The kernel throttles whole disks, so a path is resolved with
 * stat(2) to its device number, and a partition is mapped to the disk it belongs to through
 * sysfs (`/sys/dev/block/MAJ:MIN/partition` exists only for partitions, and the directory
 * above a partition is its disk, whose `dev` file holds the disk's number).
 * @module
 */

import { invalidArgument } from "../errors/mod.ts";
import { hostCgroupFs } from "./fs.ts";

/** A kernel block device number. */
export interface BlockDevice {
  readonly major: number;
  readonly minor: number;
}

/** Options of {@link resolveBlockDevice}. */
export interface ResolveDeviceOptions {
  /** Where sysfs lists block devices by number; `/sys/dev/block` on every Linux host. */
  readonly sysDevBlock?: string;
}

/** Splits a Linux `dev_t` the way glibc's major()/minor() do (12-bit major, 20-bit minor). */
export function splitDeviceNumber(rdev: number): BlockDevice {
  const dev = BigInt(rdev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/** Parses a sysfs `dev` file ("254:0\n"). */
export function parseDevFile(text: string): BlockDevice {
  const match = text.trim().match(/^(\d+):(\d+)$/);
  if (!match) throw new Error(`unexpected sysfs dev file content "${text.trim()}"`);
  return { major: Number(match[1]), minor: Number(match[2]) };
}

/**
 * Resolves a block device path (symlinks followed, e.g. /dev/disk/by-id/...) to the number
 * of its whole disk. INVALID_ARGUMENT when the path does not exist or is not a block device.
 */
export async function resolveBlockDevice(
  path: string,
  options: ResolveDeviceOptions = {},
): Promise<BlockDevice> {
  const sysDevBlock = options.sysDevBlock ?? "/sys/dev/block";
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw invalidArgument(`device ${path} does not exist`);
    }
    throw invalidArgument(`cannot stat device ${path}: ${(error as Error).message}`);
  }
  if (!info.isBlockDevice || info.rdev === null) {
    const kind = info.isDirectory
      ? "a directory"
      : info.isCharDevice
      ? "a character device"
      : info.isFile
      ? "a regular file"
      : "not a device";
    throw invalidArgument(`device ${path} is not a block device (it is ${kind})`);
  }
  const device = splitDeviceNumber(info.rdev);
  const node = `${sysDevBlock}/${device.major}:${device.minor}`;
  if (!(await hostCgroupFs.exists(`${node}/partition`))) return device;
  // A partition's sysfs directory sits inside its disk's directory.
  try {
    return parseDevFile(await Deno.readTextFile(`${node}/../dev`));
  } catch (error) {
    throw invalidArgument(
      `cannot find the disk of partition ${path} (${device.major}:${device.minor}): ` +
        (error as Error).message,
    );
  }
}
