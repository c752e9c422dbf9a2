/**
 * Usage counters of a job cgroup, read the way each version reports them:
 *
 * | | v1 | v2 |
 * |---|---|---|
 * | CPU time | `cpuacct.usage` (ns) | `cpu.stat` `usage_usec` |
 * | peak memory | `memory.max_usage_in_bytes` | `memory.peak` (kernels >= 5.19) |
 * | OOM kill | `memory.oom_control` `oom_kill N` | `memory.events` `oom_kill N` |
 *
 * A counter whose file is missing (controller not mounted, older kernel) reads as zero.
 * @module
 */

import { type CgroupFs, readOptional } from "./fs.ts";
import type { CgroupUsage } from "./types.ts";

/** Parses a flat keyed file ("key value" per line: cpu.stat, memory.events, oom_control). */
export function parseKeyedFile(text: string): Map<string, bigint> {
  const values = new Map<string, bigint>();
  for (const line of text.split("\n")) {
    const match = line.trim().match(/^(\S+)\s+(\d+)$/);
    if (match) values.set(match[1], BigInt(match[2]));
  }
  return values;
}

function parseNumber(text: string | undefined): bigint {
  const trimmed = text?.trim();
  return trimmed && /^\d+$/.test(trimmed) ? BigInt(trimmed) : 0n;
}

/** Directories of one v1 job, by controller, that usage is read from. */
export interface V1UsageDirs {
  readonly cpuacct?: string;
  readonly memory?: string;
}

/** Reads v1 usage: cpuacct.usage, memory.max_usage_in_bytes, memory.oom_control. */
export async function readV1Usage(fs: CgroupFs, dirs: V1UsageDirs): Promise<CgroupUsage> {
  const [cpu, peak, oomControl] = await Promise.all([
    dirs.cpuacct ? readOptional(fs, `${dirs.cpuacct}/cpuacct.usage`) : undefined,
    dirs.memory ? readOptional(fs, `${dirs.memory}/memory.max_usage_in_bytes`) : undefined,
    dirs.memory ? readOptional(fs, `${dirs.memory}/memory.oom_control`) : undefined,
  ]);
  return {
    cpuNanos: parseNumber(cpu),
    memoryPeakBytes: Number(parseNumber(peak)),
    oomKilled: (parseKeyedFile(oomControl ?? "").get("oom_kill") ?? 0n) > 0n,
  };
}

/** Reads v2 usage: cpu.stat usage_usec, memory.peak, memory.events oom_kill. */
export async function readV2Usage(fs: CgroupFs, dir: string): Promise<CgroupUsage> {
  const [cpuStat, peak, events] = await Promise.all([
    readOptional(fs, `${dir}/cpu.stat`),
    readOptional(fs, `${dir}/memory.peak`),
    readOptional(fs, `${dir}/memory.events`),
  ]);
  return {
    cpuNanos: (parseKeyedFile(cpuStat ?? "").get("usage_usec") ?? 0n) * 1000n,
    memoryPeakBytes: Number(parseNumber(peak)),
    oomKilled: (parseKeyedFile(events ?? "").get("oom_kill") ?? 0n) > 0n,
  };
}
