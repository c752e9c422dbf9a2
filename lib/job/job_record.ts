/**
 * What a job record may hold. A record is checked before it is written (a record that fails
 * is a bug in ijrd, refused rather than stored) and again after it is read back (a record on
 * disk may have been edited, truncated, or written by a buggy or newer ijrd), so nothing
 * that reaches `list` or `status` can break them for anyone who can see the job.
 * @module
 */

import {
  MAX_CPU_SHARES,
  MAX_IOPS,
  MAX_PIDS,
  MIN_CPU_SHARES,
  MIN_MEMORY_BYTES,
  MIN_PIDS,
} from "../cgroup/mod.ts";
import { isValidRootfsName } from "../rootfs/mod.ts";
import { isJobId } from "./job_id.ts";
import type { JobState, JobStatus } from "./types.ts";

const STATES: ReadonlySet<JobState> = new Set([
  "running",
  "exited",
  "killed",
  "stopped",
  "failed",
  "lost",
]);

/** A reason a record is not acceptable. */
class RecordProblem extends Error {}

function check(condition: boolean, problem: string): asserts condition {
  if (!condition) throw new RecordProblem(problem);
}

function isInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= min &&
    value <= max;
}

function checkStrings(value: unknown, field: string, minEntries: number): void {
  check(Array.isArray(value), `${field} is not a list`);
  check(value.length >= minEntries, `${field} has fewer than ${minEntries} entries`);
  for (const [index, entry] of value.entries()) {
    check(typeof entry === "string", `${field}[${index}] is not a string`);
  }
}

function checkDate(value: unknown, field: string): void {
  check(value instanceof Date && !Number.isNaN(value.getTime()), `${field} is not a valid time`);
}

function checkIops(value: unknown, field: string): void {
  check(Array.isArray(value), `${field} is not a list`);
  for (const [index, limit] of value.entries()) {
    const at = `${field}[${index}]`;
    check(typeof limit === "object" && limit !== null, `${at} is not an object`);
    check(typeof limit.device === "string" && limit.device !== "", `${at}.device is not a path`);
    check(isInteger(limit.major, 0, 0xfff), `${at}.major is out of range`);
    check(isInteger(limit.minor, 0, 0xfffff), `${at}.minor is out of range`);
    check(isInteger(limit.iops, 1, MAX_IOPS), `${at}.iops is out of range`);
  }
}

function checkStatus(job: JobStatus): void {
  check(typeof job === "object" && job !== null, "the record is not an object");
  check(typeof job.id === "string" && isJobId(job.id), "id is not a job ID");
  check(typeof job.owner === "string" && job.owner !== "", "owner is empty");
  check(typeof job.rootfs === "string" && isValidRootfsName(job.rootfs), "rootfs is not a name");
  checkStrings(job.argv, "argv", 1);
  checkStrings(job.env, "env", 0);
  check(typeof job.workdir === "string" && job.workdir.startsWith("/"), "workdir is not absolute");
  const limits = job.limits;
  check(typeof limits === "object" && limits !== null, "limits is not an object");
  check(isInteger(limits.cpuShares, MIN_CPU_SHARES, MAX_CPU_SHARES), "limits.cpuShares");
  check(
    limits.memoryBytes === undefined ||
      isInteger(limits.memoryBytes, MIN_MEMORY_BYTES, Number.MAX_SAFE_INTEGER),
    "limits.memoryBytes is out of range",
  );
  checkIops(limits.readIops, "limits.readIops");
  checkIops(limits.writeIops, "limits.writeIops");
  check(isInteger(limits.pids, MIN_PIDS, MAX_PIDS), "limits.pids is out of range");
  check(
    job.timeoutMs === undefined || isInteger(job.timeoutMs, 1, Number.MAX_SAFE_INTEGER),
    "timeoutMs is out of range",
  );
  check(STATES.has(job.state), `state ${JSON.stringify(job.state)} is unknown`);
  check(
    job.exitCode === undefined || isInteger(job.exitCode, 0, 255),
    "exitCode is not 0..255",
  );
  check(job.signal === undefined || isInteger(job.signal, 1, 64), "signal is not 1..64");
  check(typeof job.oomKilled === "boolean", "oomKilled is not a boolean");
  check(
    job.outputLimitExceeded === undefined || typeof job.outputLimitExceeded === "boolean",
    "outputLimitExceeded is not a boolean",
  );
  check(
    job.maxOutputBytes === undefined || isInteger(job.maxOutputBytes, 1, Number.MAX_SAFE_INTEGER),
    "maxOutputBytes is out of range",
  );
  checkDate(job.startedAt, "startedAt");
  if (job.endedAt !== undefined) checkDate(job.endedAt, "endedAt");
  check(
    job.cpuNanos === undefined || (typeof job.cpuNanos === "bigint" && job.cpuNanos >= 0n),
    "cpuNanos is out of range",
  );
  check(
    job.memoryPeakBytes === undefined ||
      isInteger(job.memoryPeakBytes, 0, Number.MAX_SAFE_INTEGER),
    "memoryPeakBytes is out of range",
  );
  check(job.message === undefined || typeof job.message === "string", "message is not text");
  check(job.pid === undefined || isInteger(job.pid, 1, 0x7fffffff), "pid is out of range");
  if (job.isolation !== undefined) {
    const isolation = job.isolation;
    check(typeof isolation === "object" && isolation !== null, "isolation is not an object");
    check(typeof isolation.seccomp === "boolean", "isolation.seccomp is not a boolean");
    const userns = isolation.userNamespace;
    if (userns !== undefined) {
      check(isInteger(userns.size, 1, 0xffffffff), "isolation.userNamespace.size is out of range");
      check(
        isInteger(userns.hostUid, 1, 0xfffffffe - userns.size) &&
          isInteger(userns.hostGid, 1, 0xfffffffe - userns.size),
        "isolation.userNamespace host ids are out of range",
      );
    }
  }
  if (job.state === "running") {
    check(job.endedAt === undefined, "a running job has an end time");
  } else {
    check(job.endedAt !== undefined, `a job recorded as ${job.state} has no end time`);
    check(job.pid === undefined, `a job recorded as ${job.state} has a pid`);
  }
  if (job.state === "exited") check(job.exitCode !== undefined, "an exited job has no exit code");
}

/** Why `job` is not a valid record, or undefined when it is. */
export function jobRecordProblem(job: JobStatus): string | undefined {
  try {
    checkStatus(job);
    return undefined;
  } catch (error) {
    if (error instanceof RecordProblem) return error.message;
    return `the record cannot be read: ${(error as Error).message}`;
  }
}
