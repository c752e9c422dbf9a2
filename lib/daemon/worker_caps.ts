/**
 * Caps on everything all jobs use together (ijrd --max-pids, --max-memory), set on ijrd's
 * job parent cgroup. "auto" leaves the host and ijrd their share: half of the tasks the
 * kernel allows (the smaller of kernel.pid_max and kernel.threads-max), and the memory ijrd's
 * job parent may use less max(1 GiB, 10%).
 * @module
 */

import type { AllJobsCaps, HostTaskLimits } from "../cgroup/mod.ts";
import { parseByteSize } from "../units/size.ts";
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

/** The caps in force, from the flags and the host. */
export function resolveWorkerCaps(flags: CapFlags, host: HostCapacity): Required<AllJobsCaps> {
  let pids: number;
  if (flags.maxPids === "auto") {
    pids = Math.floor(Math.min(host.tasks.pidMax, host.tasks.threadsMax) / 2);
  } else if (/^[1-9][0-9]*$/.test(flags.maxPids) && Number.isSafeInteger(Number(flags.maxPids))) {
    pids = Number(flags.maxPids);
  } else {
    throw new PreflightError(
      `--max-pids must be a positive integer or "auto", got "${flags.maxPids}"`,
    );
  }
  if (pids < MIN_CAP_PIDS) {
    throw new PreflightError(`--max-pids must be at least ${MIN_CAP_PIDS}, got ${pids}`);
  }
  let memoryBytes: number;
  if (flags.maxMemory === "auto") {
    const reserve = Math.max(GIB, Math.floor(host.memoryBytes / 10));
    memoryBytes = Math.max(MIN_CAP_MEMORY, host.memoryBytes - reserve);
  } else {
    try {
      memoryBytes = parseByteSize(flags.maxMemory);
    } catch (error) {
      throw new PreflightError(`--max-memory: ${(error as Error).message} (or "auto")`);
    }
    if (memoryBytes < MIN_CAP_MEMORY) {
      throw new PreflightError(`--max-memory must be at least 64m, got ${flags.maxMemory}`);
    }
  }
  return { pids, memoryBytes };
}
