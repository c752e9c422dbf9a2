/**
 * How ijrctl shows jobs and root file systems to people: aligned tables and key/value
 * blocks. Scripts use --json instead, which prints the API's own JSON mapping.
 * @module
 */

import { type DescMessage, type MessageShape, toJson } from "@bufbuild/protobuf";
import { type Job, JobState } from "../gen/ijr/v1/job_pb.ts";
import type { Rootfs } from "../gen/ijr/v1/rootfs_pb.ts";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { commandLine, formatByteSize, formatDuration } from "../units/mod.ts";

export { commandLine };

/** Prints a message, or a list of them, as the API's JSON mapping (for --json). */
export function printJson<Desc extends DescMessage>(
  schema: Desc,
  value: MessageShape<Desc> | MessageShape<Desc>[],
): void {
  const json = (message: MessageShape<Desc>) =>
    toJson(schema, message, { alwaysEmitImplicit: true });
  console.log(JSON.stringify(Array.isArray(value) ? value.map(json) : json(value), null, 2));
}

/** Lower-case state name: "running", "exited", ... */
export function stateName(state: JobState): string {
  return JobState[state]?.replace(/^JOB_STATE_/, "").toLowerCase() ?? `state ${state}`;
}

function timestamp(value: Timestamp | undefined): string {
  if (!value) return "-";
  const ms = Number(value.seconds) * 1000 + Math.floor(value.nanos / 1e6);
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function durationMs(value: Duration | undefined): number | undefined {
  return value ? Number(value.seconds) * 1000 + Math.floor(value.nanos / 1e6) : undefined;
}

/** One-phrase outcome: "exited 3", "killed by signal 9 (OOM)", "running". */
export function outcome(job: Job): string {
  switch (job.state) {
    case JobState.EXITED:
      return `exited ${job.exitCode}`;
    case JobState.KILLED:
      return `killed by signal ${job.signal}${job.oomKilled ? " (out of memory)" : ""}`;
    case JobState.STOPPED: {
      const why = [
        ...(job.signal ? [`signal ${job.signal}`] : []),
        ...(job.outputLimitExceeded ? ["output limit exceeded"] : []),
      ];
      return why.length ? `stopped (${why.join(", ")})` : "stopped";
    }
    default:
      return stateName(job.state);
  }
}

/** Renders rows as a table with a header, columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i])).join("  ");
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** The job list table. */
export function jobTable(jobs: readonly Job[]): string {
  return table(
    ["ID", "OWNER", "ROOTFS", "STATE", "STARTED", "COMMAND"],
    jobs.map((job) => [
      job.id,
      job.owner,
      job.rootfs,
      outcome(job),
      timestamp(job.startedAt),
      // An ijrd from before the summary existed sends argv instead.
      job.command || commandLine(job.argv),
    ]),
  );
}

/**
 * The root file system table. RUNNING counts every job running on a rootfs; JOBS lists the
 * IDs of those the caller may see: their own, or all for admins.
 */
export function rootfsTable(list: readonly Rootfs[]): string {
  return table(
    ["NAME", "SIZE", "ENTRIES", "CREATED", "RUNNING", "JOBS"],
    list.map((r) => [
      r.name,
      formatByteSize(Number(r.sizeBytes)),
      String(r.entries),
      timestamp(r.createdAt),
      // An ijrd from before the count existed sends only the IDs.
      String(Math.max(r.runningJobCount, r.runningJobs.length)),
      r.runningJobs.length ? r.runningJobs.join(",") : "-",
    ]),
  );
}

/** "host ids 1879048192-1879113727", or what an ijrd with --userns=off reports. */
function userNamespaceOf(job: Job): string {
  const isolation = job.isolation;
  if (!isolation) return "-";
  if (!isolation.userNamespace) return "none (ijrd --userns=off: the job's root is the host's)";
  return `host ids ${isolation.hostUid}-${isolation.hostUid + isolation.idCount - 1}`;
}

/** The `job status` block. */
export function jobDetails(job: Job): string {
  const limits = job.limits;
  const iops = (list: { device: string; iops: bigint }[] | undefined) =>
    list?.length ? list.map((l) => `${l.device}:${l.iops}`).join(", ") : "none";
  const timeout = durationMs(job.timeout);
  const cpu = durationMs(job.usage?.cpuTime);
  const rows: [string, string][] = [
    ["ID", job.id],
    ["State", outcome(job)],
    ["Owner", job.owner],
    ["Rootfs", job.rootfs],
    ["Command", commandLine(job.argv)],
    ["Workdir", job.workdir || "/"],
    ["Env", job.env.length ? job.env.join(" ") : "-"],
    ["CPU shares", limits?.cpuShares ? String(limits.cpuShares) : "-"],
    ["Memory limit", limits?.memoryBytes ? formatByteSize(Number(limits.memoryBytes)) : "none"],
    ["Read IOPS", iops(limits?.readIops)],
    ["Write IOPS", iops(limits?.writeIops)],
    ["Pids limit", limits?.pids ? String(limits.pids) : "-"],
    [
      "Output limit",
      limits?.maxOutputBytes ? formatByteSize(Number(limits.maxOutputBytes)) : "none",
    ],
    ["Timeout", timeout === undefined ? "none" : formatDuration(timeout)],
    ["User namespace", userNamespaceOf(job)],
    ["Seccomp", job.isolation ? (job.isolation.seccomp ? "default" : "off") : "-"],
    ["OOM killed", job.oomKilled ? "yes" : "no"],
    ["Output limit exceeded", job.outputLimitExceeded ? "yes" : "no"],
    ["Started", timestamp(job.startedAt)],
    ["Ended", timestamp(job.endedAt)],
    ["CPU time", cpu === undefined ? "-" : formatDuration(cpu)],
    [
      "Peak memory",
      job.usage?.memoryPeakBytes ? formatByteSize(Number(job.usage.memoryPeakBytes)) : "-",
    ],
  ];
  if (job.message) rows.push(["Message", job.message]);
  const width = Math.max(...rows.map(([key]) => key.length)) + 1;
  return rows.map(([key, value]) => `${(key + ":").padEnd(width)} ${value}`).join("\n") + "\n";
}

/** The exit code ijrctl returns for a finished job: its status, or 128+signal. */
export function exitCodeOf(job: Job): number {
  if (job.state === JobState.EXITED) return job.exitCode;
  if (job.signal) return 128 + job.signal;
  return 1;
}
