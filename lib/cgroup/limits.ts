/**
 * The job limits users give (`--cpu`, `--memory`, `--disk-read-iops`, `--disk-write-iops`,
 * `--pids`), parsed and validated into {@link JobLimits}. Every bad value becomes an
 * INVALID_ARGUMENT error that names the limit and says what is wrong, before anything is
 * created, so a job with a bad limit never half-starts.
 *
 * The documented bounds (docs/operations.md, "cgroups"):
 * - CPU shares: 2..262144, default 1024 (the kernel's cpu.shares range and default).
 * - Memory: 1024-based sizes (b, k, m, g), at least {@link MIN_MEMORY_BYTES} (4 MiB);
 *   the kernel rounds the limit down to whole pages.
 * - IOPS: 1..4294967294 per device (the kernel keeps a 32-bit count; all ones means "no
 *   limit"), at most one limit per whole disk and direction.
 * - Pids: 2..4194304, default {@link DEFAULT_PIDS} (1024). Two is the job's init plus its
 *   command; 4194304 is the kernel's PID_MAX_LIMIT.
 * @module
 */

import { invalidArgument } from "../errors/mod.ts";
import { parseByteSize } from "../units/mod.ts";
import { type BlockDevice, resolveBlockDevice } from "./device.ts";
import type { DeviceIops, JobLimits } from "./types.ts";
import { MAX_CPU_SHARES, MIN_CPU_SHARES } from "./weight.ts";

/** CPU shares of a job that asks for none: the kernel's default. */
export const DEFAULT_CPU_SHARES = 1024;

/**
 * Smallest memory limit IJR accepts. Measured on the development host: bash running `ls`
 * peaks at about 1.2 MiB and is OOM-killed under 512 KiB. The job's init and the kernel
 * memory charged per task (page tables, stacks, pipe buffers) come on top of the command.
 * 4 MiB leaves that headroom while refusing values that can only be a mistake ("100" bytes),
 * which would otherwise show up as a job the OOM killer ends while it starts.
 */
export const MIN_MEMORY_BYTES = 4 * 1024 * 1024;

/** Daemon-wide default pids limit: room for real work, still stops a fork bomb early. */
export const DEFAULT_PIDS = 1024;
/** Smallest pids limit: the job's init and the command it forks. */
export const MIN_PIDS = 2;
/** Largest pids limit: the kernel's PID_MAX_LIMIT. */
export const MAX_PIDS = 4_194_304;

/** Largest IOPS limit: the kernel stores a 32-bit count and reads all ones as "unlimited". */
export const MAX_IOPS = 4_294_967_294;

/** A device limit as the user wrote it, before the device is resolved. */
export interface DeviceIopsRequest {
  /** Absolute path of a block device (a partition is mapped to its whole disk). */
  readonly device: string;
  /** Operations per second. */
  readonly iops: number | bigint;
}

/** Limits as they arrive from a flag or an RPC; `undefined` means "the default". */
export interface JobLimitsRequest {
  readonly cpuShares?: number | bigint;
  readonly memoryBytes?: number | bigint;
  readonly readIops?: readonly DeviceIopsRequest[];
  readonly writeIops?: readonly DeviceIopsRequest[];
  readonly pids?: number | bigint;
}

/** Daemon-wide defaults for limits a request leaves out. */
export interface LimitDefaults {
  /** Default CPU shares; {@link DEFAULT_CPU_SHARES} unless the daemon says otherwise. */
  readonly cpuShares: number;
  /** Default pids limit; {@link DEFAULT_PIDS} unless the daemon's `--pids` says otherwise. */
  readonly pids: number;
}

/** Options of {@link resolveJobLimits}. */
export interface ResolveLimitsOptions {
  /** Defaults for omitted limits. */
  readonly defaults?: LimitDefaults;
  /** Resolves a device path to its whole disk; the real one stats the path and reads sysfs. */
  readonly resolveDevice?: (path: string) => Promise<BlockDevice>;
}

/** Checks that `value` is an integer in `min..max`; `what` names it in the error. */
function integerInRange(
  what: string,
  value: number | bigint,
  { min, max }: { min: number; max: number },
): number {
  const big = typeof value === "bigint" ? value : undefined;
  if (big !== undefined && (big < BigInt(min) || big > BigInt(max))) {
    throw invalidArgument(`${what} must be from ${min} to ${max}, got ${big}`);
  }
  const number = Number(value);
  if (!Number.isInteger(number)) throw invalidArgument(`${what} must be an integer, got ${value}`);
  if (number < min || number > max) {
    throw invalidArgument(`${what} must be from ${min} to ${max}, got ${value}`);
  }
  return number;
}

/** Parses a whole decimal number as typed by a user ("1024"); `what` names it in errors. */
function parseCount(what: string, text: string): bigint {
  const trimmed = text.trim();
  if (trimmed.startsWith("-")) throw invalidArgument(`${what} must be positive, got "${text}"`);
  if (!/^[0-9]+$/.test(trimmed)) {
    throw invalidArgument(`${what} must be a whole number, got "${text}"`);
  }
  return BigInt(trimmed);
}

/** Validates CPU shares (2..262144). */
export function validateCpuShares(shares: number | bigint): number {
  return integerInRange("CPU shares", shares, { min: MIN_CPU_SHARES, max: MAX_CPU_SHARES });
}

/** Parses `--cpu` text ("512") into CPU shares. */
export function parseCpuShares(text: string): number {
  return validateCpuShares(parseCount("CPU shares", text));
}

/** Validates a memory limit in bytes: at least 4 MiB, a safe integer. */
export function validateMemoryBytes(bytes: number | bigint): number {
  if (
    typeof bytes === "bigint"
      ? bytes > BigInt(Number.MAX_SAFE_INTEGER)
      : bytes > Number.MAX_SAFE_INTEGER
  ) {
    throw invalidArgument(
      `memory limit ${bytes} is too large (at most ${Number.MAX_SAFE_INTEGER} bytes)`,
    );
  }
  const number = Number(bytes);
  if (!Number.isInteger(number)) {
    throw invalidArgument(`memory limit must be whole bytes, got ${bytes}`);
  }
  if (number <= 0) throw invalidArgument(`memory limit must be greater than zero, got ${bytes}`);
  if (number < MIN_MEMORY_BYTES) {
    throw invalidArgument(
      `memory limit ${number} bytes is below the minimum of 4m (${MIN_MEMORY_BYTES} bytes): ` +
        `a job needs that much to start`,
    );
  }
  return number;
}

/** Parses `--memory` text: a whole number with an optional 1024-based unit b, k, m or g. */
export function parseMemoryLimit(text: string): number {
  if (text.trim().startsWith("-")) {
    throw invalidArgument(`memory limit must be positive, got "${text}"`);
  }
  let bytes: number;
  try {
    bytes = parseByteSize(text);
  } catch (error) {
    throw invalidArgument(`memory limit: ${(error as Error).message}`);
  }
  return validateMemoryBytes(bytes);
}

/** Validates an IOPS count (1..4294967294). */
export function validateIops(iops: number | bigint): number {
  if (iops === 0 || iops === 0n) {
    throw invalidArgument("IOPS limit must be greater than zero, got 0");
  }
  return integerInRange("IOPS limit", iops, { min: 1, max: MAX_IOPS });
}

/** Parses a `DEV:N` spec ("/dev/vda:100") without touching the device. */
export function parseDeviceIopsSpec(spec: string): DeviceIopsRequest {
  const colon = spec.lastIndexOf(":");
  if (colon < 0) {
    throw invalidArgument(`IOPS limit "${spec}" must be DEVICE:COUNT, e.g. /dev/sda:100`);
  }
  const device = spec.slice(0, colon);
  const count = spec.slice(colon + 1);
  if (device === "") {
    throw invalidArgument(
      `IOPS limit "${spec}" names no device: use DEVICE:COUNT, e.g. /dev/sda:100`,
    );
  }
  if (!device.startsWith("/")) {
    throw invalidArgument(
      `IOPS limit "${spec}": the device must be an absolute path, got "${device}"`,
    );
  }
  if (count === "") {
    throw invalidArgument(`IOPS limit "${spec}" has no count: use DEVICE:COUNT, e.g. /dev/sda:100`);
  }
  let iops: number;
  try {
    iops = validateIops(parseCount("IOPS limit", count));
  } catch (error) {
    throw invalidArgument(`IOPS limit "${spec}": ${(error as Error).message}`);
  }
  return { device, iops };
}

/** Validates a pids limit (2..4194304). */
export function validatePids(pids: number | bigint): number {
  return integerInRange("pids limit", pids, { min: MIN_PIDS, max: MAX_PIDS });
}

/** Parses `--pids` text into a pids limit. */
export function parsePidsLimit(text: string): number {
  return validatePids(parseCount("pids limit", text));
}

async function resolveIopsList(
  requests: readonly DeviceIopsRequest[],
  { direction, resolveDevice }: {
    direction: "read" | "write";
    resolveDevice: (path: string) => Promise<BlockDevice>;
  },
): Promise<DeviceIops[]> {
  const result: DeviceIops[] = [];
  for (const request of requests) {
    if (!request.device.startsWith("/")) {
      throw invalidArgument(
        `${direction} IOPS limit: the device must be an absolute path, got "${request.device}"`,
      );
    }
    let iops: number;
    try {
      iops = validateIops(request.iops);
    } catch (error) {
      throw invalidArgument(
        `${direction} IOPS limit for ${request.device}: ${(error as Error).message}`,
      );
    }
    const { major, minor } = await resolveDevice(request.device);
    const same = result.find((other) => other.major === major && other.minor === minor);
    if (same) {
      throw invalidArgument(
        `${direction} IOPS limit given twice for disk ${major}:${minor} ` +
          `(${same.device} and ${request.device})`,
      );
    }
    result.push({ device: request.device, major, minor, iops });
  }
  return result;
}

/**
 * Validates a request into {@link JobLimits}, filling in defaults and resolving devices to
 * their whole disks. Throws INVALID_ARGUMENT naming the first problem.
 */
export async function resolveJobLimits(
  request: JobLimitsRequest,
  options: ResolveLimitsOptions = {},
): Promise<JobLimits> {
  const defaults = options.defaults ?? { cpuShares: DEFAULT_CPU_SHARES, pids: DEFAULT_PIDS };
  const resolveDevice = options.resolveDevice ?? resolveBlockDevice;
  const cpuShares = validateCpuShares(request.cpuShares ?? defaults.cpuShares);
  const memoryBytes = request.memoryBytes === undefined
    ? undefined
    : validateMemoryBytes(request.memoryBytes);
  const pids = validatePids(request.pids ?? defaults.pids);
  const readIops = await resolveIopsList(request.readIops ?? [], {
    direction: "read",
    resolveDevice,
  });
  const writeIops = await resolveIopsList(request.writeIops ?? [], {
    direction: "write",
    resolveDevice,
  });
  return { cpuShares, memoryBytes, readIops, writeIops, pids };
}
