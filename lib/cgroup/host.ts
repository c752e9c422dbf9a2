/**
 * What the host allows all processes together, for sensible defaults of the caps on all
 * jobs: `kernel.pid_max` (the largest PID, so the most tasks that can exist at once),
 * `kernel.threads-max` (the most tasks the kernel will create, derived from memory at boot)
 * and `MemTotal` (the host's memory). The parsers are pure; the readers only read the files.
 * @module
 */

/** The host's limits on tasks, from /proc/sys/kernel. */
export interface HostTaskLimits {
  /** `kernel.pid_max`: PIDs are below this, so at most this many tasks exist at once. */
  readonly pidMax: number;
  /** `kernel.threads-max`: the most tasks (processes and threads) the kernel creates. */
  readonly threadsMax: number;
}

/** Parses a /proc/sys file holding one whole number; `name` names it in the error. */
export function parseProcSysCount(name: string, text: string): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) throw new Error(`${name} is not a whole number: "${trimmed}"`);
  return Number(trimmed);
}

/** Parses /proc/meminfo text into MemTotal in bytes (the file says kB, meaning KiB). */
export function parseMemTotal(meminfo: string): number {
  const match = meminfo.match(/^MemTotal:\s+(\d+) kB$/m);
  if (!match) throw new Error("/proc/meminfo has no MemTotal line");
  return Number(match[1]) * 1024;
}

/** Reads kernel.pid_max and kernel.threads-max from `procSysKernel` (/proc/sys/kernel). */
export async function readHostTaskLimits(
  procSysKernel = "/proc/sys/kernel",
): Promise<HostTaskLimits> {
  const [pidMax, threadsMax] = await Promise.all([
    Deno.readTextFile(`${procSysKernel}/pid_max`),
    Deno.readTextFile(`${procSysKernel}/threads-max`),
  ]);
  return {
    pidMax: parseProcSysCount("kernel.pid_max", pidMax),
    threadsMax: parseProcSysCount("kernel.threads-max", threadsMax),
  };
}

/** Reads the host's MemTotal in bytes from `meminfo` (/proc/meminfo). */
export async function readMemTotal(meminfo = "/proc/meminfo"): Promise<number> {
  return parseMemTotal(await Deno.readTextFile(meminfo));
}
