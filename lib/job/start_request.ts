/**
 * The one validator of a job start. Every field of a {@link StartJobRequest} is checked
 * against a documented limit before anything is created (job folder, lease, cgroup, record),
 * so a refused start leaves nothing behind, and each refusal is an INVALID_ARGUMENT that
 * names the field in the API's terms ("argv[3]", "env[0]", "limits.cpu_shares", ...). The
 * RPC layer calls {@link validateStartFields} before it hands a request to the engine;
 * JobManager.start calls {@link validateStartRequest}, so library callers get the same checks.
 *
 * The limits (docs/security.md, "Limits on requests"):
 * - argv: 1..{@link MAX_ARGV_ENTRIES} entries, argv[0] not empty; env: at most
 *   {@link MAX_ENV_ENTRIES} entries, each KEY=VALUE with a non-empty KEY.
 * - Each argv and env string at most {@link MAX_ARG_STRING_BYTES} bytes of UTF-8, and argv
 *   plus env at most {@link MAX_ARGV_ENV_BYTES} together; no NUL bytes anywhere.
 * - workdir (and IOPS device paths): absolute, at most {@link MAX_PATH_BYTES} bytes, no NUL.
 * - timeout: 1 ms..{@link MAX_TIMEOUT_MS}; a stop's grace period 0..{@link MAX_GRACE_MS}.
 * - limits: as lib/cgroup/limits.ts documents them; at most {@link MAX_IOPS_DEVICES} IOPS
 *   entries per direction, one per whole disk.
 * @module
 */

import { IjrError, invalidArgument, quoteValue } from "../errors/mod.ts";
import {
  type BlockDevice,
  DEFAULT_CPU_SHARES,
  DEFAULT_PIDS,
  type DeviceIopsRequest,
  type JobLimits,
  type LimitDefaults,
  MAX_CPU_SHARES,
  MAX_IOPS,
  MAX_PIDS,
  MIN_CPU_SHARES,
  MIN_MEMORY_BYTES,
  MIN_PIDS,
  resolveBlockDevice,
  resolveJobLimits,
} from "../cgroup/mod.ts";
import { validateRootfsName } from "../rootfs/mod.ts";
import type { StartJobRequest } from "./types.ts";

/** Most argv entries: the count libijr's spawn accepts (IJR_SPAWN_MAX_STRINGS). */
export const MAX_ARGV_ENTRIES = 4096;
/** Most env entries: the count libijr's spawn accepts (IJR_SPAWN_MAX_STRINGS). */
export const MAX_ENV_ENTRIES = 4096;
/**
 * Longest argv or env string in UTF-8 bytes: Linux's MAX_ARG_STRLEN is 128 KiB (32 pages)
 * including the string's NUL; execve fails with E2BIG beyond it.
 */
export const MAX_ARG_STRING_BYTES = 128 * 1024 - 1;
/**
 * Most bytes of argv and env together, each string counted with its NUL. execve's own limit
 * is a quarter of the stack limit (2 MiB with the default 8 MiB stack) for the strings and
 * their pointer arrays; 1 MiB leaves room for the pointers of 8192 entries (64 KiB) and for
 * the default environment, and stays far below a message gRPC accepts (4 MiB).
 */
export const MAX_ARGV_ENV_BYTES = 1024 * 1024;
/** Longest workdir or device path in bytes: PATH_MAX (4096) includes the NUL. */
export const MAX_PATH_BYTES = 4095;
/** Longest job timeout: 30 days, in milliseconds (longer than setTimeout's 2^31-1 ms). */
export const MAX_TIMEOUT_MS = 30 * 24 * 60 * 60 * 1000;
/** Longest grace period of a stop: one hour, in milliseconds. */
export const MAX_GRACE_MS = 60 * 60 * 1000;
/**
 * Most IOPS limits per direction: more disks than a worker has in practice, and a bound on
 * the stat calls and sysfs reads one request can cost.
 */
export const MAX_IOPS_DEVICES = 64;

/** Options of {@link validateStartRequest}. */
export interface StartValidationOptions {
  /** Defaults for limits a request leaves out (the kernel's CPU default, 1024 pids). */
  readonly defaults?: LimitDefaults;
  /** Resolves a device path to its whole disk; the real one stats the path and reads sysfs. */
  readonly resolveDevice?: (path: string) => Promise<BlockDevice>;
}

/** Bytes of `text` in UTF-8, as TextEncoder (and so execve) sees it; lone surrogates are 3. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** Checks one argv or env string: a string, no NUL, not longer than execve takes. */
function checkString(field: string, value: unknown): number {
  if (typeof value !== "string") {
    throw invalidArgument(`${field} must be a string, got ${typeof value}`);
  }
  if (value.includes("\0")) throw invalidArgument(`${field} contains a NUL byte`);
  const bytes = utf8Length(value);
  if (bytes > MAX_ARG_STRING_BYTES) {
    throw invalidArgument(
      `${field} is ${bytes} bytes long; at most ${MAX_ARG_STRING_BYTES} are allowed`,
    );
  }
  return bytes;
}

/** Checks an absolute path inside the job or on the host: no NUL, at most PATH_MAX. */
function checkPath(field: string, value: string): void {
  if (typeof value !== "string" || !value.startsWith("/")) {
    throw invalidArgument(`${field} must be an absolute path, got ${quoteValue(String(value))}`);
  }
  if (value.includes("\0")) throw invalidArgument(`${field} contains a NUL byte`);
  const bytes = utf8Length(value);
  if (bytes > MAX_PATH_BYTES) {
    throw invalidArgument(`${field} is ${bytes} bytes long; at most ${MAX_PATH_BYTES} are allowed`);
  }
}

/**
 * Checks that `value` is a whole number in `min..max`, comparing bigints as bigints so that
 * no value is rounded on its way to the check; returns it as a number.
 */
function checkInteger(
  field: string,
  value: number | bigint,
  { min, max, shown = String(min) }: { min: number; max: number; shown?: string },
): number {
  if (typeof value === "bigint") {
    if (value < BigInt(min) || value > BigInt(max)) {
      throw invalidArgument(`${field} must be from ${shown} to ${max}, got ${value}`);
    }
    return Number(value);
  }
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw invalidArgument(`${field} must be a whole number, got ${value}`);
  }
  if (value < min || value > max) {
    throw invalidArgument(`${field} must be from ${shown} to ${max}, got ${value}`);
  }
  return value;
}

function checkIopsList(field: string, list: readonly DeviceIopsRequest[] | undefined): void {
  if (list === undefined) return;
  if (list.length > MAX_IOPS_DEVICES) {
    throw invalidArgument(
      `${field} has ${list.length} entries; at most ${MAX_IOPS_DEVICES} are allowed`,
    );
  }
  list.forEach((entry, i) => {
    checkPath(`${field}[${i}].device`, entry.device);
    checkInteger(`${field}[${i}].iops`, entry.iops, { min: 1, max: MAX_IOPS });
  });
}

/**
 * Checks every field of a start request against its documented limit, without I/O: what
 * needs the host (block devices, the rootfs store) is left to {@link validateStartRequest}
 * and the engine. Throws INVALID_ARGUMENT naming the first field that is wrong.
 */
export function validateStartFields(request: StartJobRequest): void {
  validateRootfsName(request.rootfs);

  const { argv, env = [] } = request;
  if (argv.length === 0) throw invalidArgument("argv must not be empty: argv[0] is the command");
  if (argv.length > MAX_ARGV_ENTRIES) {
    throw invalidArgument(
      `argv has ${argv.length} entries; at most ${MAX_ARGV_ENTRIES} are allowed`,
    );
  }
  if (env.length > MAX_ENV_ENTRIES) {
    throw invalidArgument(`env has ${env.length} entries; at most ${MAX_ENV_ENTRIES} are allowed`);
  }
  if (argv[0] === "") throw invalidArgument('argv[0] must name a command, got ""');
  // execve copies each string with its NUL; the total is what the kernel's limit is about.
  let total = 0;
  argv.forEach((arg, i) => total += checkString(`argv[${i}]`, arg) + 1);
  env.forEach((entry, i) => {
    total += checkString(`env[${i}]`, entry) + 1;
    const equals = entry.indexOf("=");
    if (equals < 0) throw invalidArgument(`env[${i}] must be KEY=VALUE, got ${quoteValue(entry)}`);
    if (equals === 0) {
      throw invalidArgument(
        `env[${i}] must be KEY=VALUE with a non-empty KEY, got ${quoteValue(entry)}`,
      );
    }
  });
  if (total > MAX_ARGV_ENV_BYTES) {
    throw invalidArgument(
      `argv and env are ${total} bytes (each string with its NUL); ` +
        `at most ${MAX_ARGV_ENV_BYTES} are allowed`,
    );
  }

  if (request.workdir !== undefined) checkPath("workdir", request.workdir);

  const limits = request.limits ?? {};
  if (limits.cpuShares !== undefined) {
    checkInteger("limits.cpu_shares", limits.cpuShares, {
      min: MIN_CPU_SHARES,
      max: MAX_CPU_SHARES,
    });
  }
  if (limits.memoryBytes !== undefined) {
    checkInteger("limits.memory_bytes", limits.memoryBytes, {
      min: MIN_MEMORY_BYTES,
      max: Number.MAX_SAFE_INTEGER,
      shown: `${MIN_MEMORY_BYTES} (4m)`,
    });
  }
  if (limits.pids !== undefined) {
    checkInteger("limits.pids", limits.pids, { min: MIN_PIDS, max: MAX_PIDS });
  }
  checkIopsList("limits.read_iops", limits.readIops);
  checkIopsList("limits.write_iops", limits.writeIops);

  if (request.maxOutputBytes !== undefined) {
    checkInteger("limits.max_output_bytes", request.maxOutputBytes, {
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
    });
  }

  const timeoutMs = request.timeoutMs;
  if (timeoutMs !== undefined) {
    if (!Number.isInteger(timeoutMs)) {
      throw invalidArgument(`timeout must be a whole number of milliseconds, got ${timeoutMs}`);
    }
    if (timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
      throw invalidArgument(
        `timeout must be from 1 to ${MAX_TIMEOUT_MS} ms (30 days), got ${timeoutMs}`,
      );
    }
  }
}

/**
 * Resolves the IOPS devices of one direction to their whole disks, naming the field of a
 * device that cannot be used and of a disk given twice.
 */
async function resolveDisks(
  field: string,
  list: readonly DeviceIopsRequest[],
  resolveDevice: (path: string) => Promise<BlockDevice>,
  resolved: Map<string, BlockDevice>,
): Promise<void> {
  const seen = new Map<string, { field: string; device: string }>();
  for (const [i, entry] of list.entries()) {
    const entryField = `${field}[${i}].device`;
    let disk = resolved.get(entry.device);
    if (!disk) {
      try {
        disk = await resolveDevice(entry.device);
      } catch (error) {
        if (error instanceof IjrError) {
          throw new IjrError(error.code, `${entryField}: ${error.message}`, { cause: error });
        }
        throw error;
      }
      resolved.set(entry.device, disk);
    }
    const key = `${disk.major}:${disk.minor}`;
    const first = seen.get(key);
    if (first) {
      throw invalidArgument(
        `${entryField} ${entry.device} is on disk ${key}, which ${first.field} ` +
          `(${first.device}) already limits`,
      );
    }
    seen.set(key, { field: entryField, device: entry.device });
  }
}

/**
 * Validates a whole start request, {@link validateStartFields} first, then the IOPS devices
 * on the host (each must be a block device; one limit per whole disk and direction), and
 * returns its limits with the defaults filled in. Nothing is created; INVALID_ARGUMENT names
 * the first field that is wrong.
 */
export async function validateStartRequest(
  request: StartJobRequest,
  options: StartValidationOptions = {},
): Promise<JobLimits> {
  validateStartFields(request);
  const resolveDevice = options.resolveDevice ?? resolveBlockDevice;
  const limits = request.limits ?? {};
  const resolved = new Map<string, BlockDevice>();
  await resolveDisks("limits.read_iops", limits.readIops ?? [], resolveDevice, resolved);
  await resolveDisks("limits.write_iops", limits.writeIops ?? [], resolveDevice, resolved);
  // Everything is known good: this only fills in defaults and takes the disks found above.
  return await resolveJobLimits(limits, {
    defaults: options.defaults ?? { cpuShares: DEFAULT_CPU_SHARES, pids: DEFAULT_PIDS },
    resolveDevice: (path) => Promise.resolve(resolved.get(path)!),
  });
}
