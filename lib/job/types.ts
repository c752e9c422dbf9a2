/**
 * The job engine's vocabulary: states, the status the manager reports, and what a start
 * request holds.
 * @module
 */

import type { JobLimits, JobLimitsRequest } from "../cgroup/mod.ts";

/**
 * Lifecycle states. `exited`: the command ended by itself with a status; `killed`: it died
 * from a signal nobody asked IJR for (its own kill -9, the OOM killer); `stopped`: ended by
 * a stop request or its timeout; `failed`: could not be supervised to the end; `lost`: it was
 * running when the daemon went away.
 */
export type JobState = "running" | "exited" | "killed" | "stopped" | "failed" | "lost";

/** A job's status: what it was asked to do and what happened. */
export interface JobStatus {
  readonly id: string;
  readonly owner: string;
  readonly rootfs: string;
  readonly argv: readonly string[];
  readonly env: readonly string[];
  readonly workdir: string;
  /** Limits in force, defaults filled in. */
  readonly limits: JobLimits;
  readonly timeoutMs?: number;
  /** Most bytes the job may write to its output (and to any one file); absent: no limit. */
  readonly maxOutputBytes?: number;
  readonly state: JobState;
  /** The command's exit status, when it exited. */
  readonly exitCode?: number;
  /** The signal that ended the command, when one did. */
  readonly signal?: number;
  readonly oomKilled: boolean;
  /** True when the job was stopped because its output reached maxOutputBytes. */
  readonly outputLimitExceeded?: boolean;
  /** How the job is confined beyond its namespaces (absent in records older than it). */
  readonly isolation?: JobIsolation;
  readonly startedAt: Date;
  readonly endedAt?: Date;
  /** CPU time of the whole job in nanoseconds, from its cgroup. */
  readonly cpuNanos?: bigint;
  /** Peak memory of the whole job in bytes, from its cgroup. */
  readonly memoryPeakBytes?: number;
  /** Detail for people: why it was stopped, failed or lost. */
  readonly message?: string;
  /** The init's PID while running. */
  readonly pid?: number;
}

/** What a caller asks for. */
export interface StartJobRequest {
  /** Identity of the user starting it. */
  readonly owner: string;
  /** Name of the root file system. */
  readonly rootfs: string;
  /** Command and arguments; argv[0] is searched in PATH when it has no slash. */
  readonly argv: readonly string[];
  /** KEY=VALUE entries; a minimal PATH, HOME and TERM when empty. */
  readonly env?: readonly string[];
  /** Absolute working directory inside the rootfs; "/" when absent. */
  readonly workdir?: string;
  /** Limits as requested; undefined fields take the daemon's defaults. */
  readonly limits?: JobLimitsRequest;
  /** Stop the job after this many milliseconds. */
  readonly timeoutMs?: number;
  /**
   * Most bytes of output (stdout and stderr together); the job is stopped when its output
   * reaches it. Absent: the manager's limit; never above it. (A bigint from the API keeps its
   * exact value until the range check.)
   */
  readonly maxOutputBytes?: number | bigint;
}

/**
 * Where jobs' writable layers (the overlay's upper and work folders) live. `memory`: a tmpfs
 * of `sizeBytes` inside each job's own mount namespace; its pages count against the job's
 * memory limit, a job cannot write more than `sizeBytes`, and nothing touches the state disk
 * or outlives the job. `disk`: folders under the state folder, as large as that disk allows
 * and shared by every job on it, removed when the job ends.
 */
export type JobScratch =
  | { readonly on: "memory"; readonly sizeBytes: number }
  | { readonly on: "disk" };

/** The default writable layer: 1 GiB of memory per job (pages are used only when written). */
export const DEFAULT_SCRATCH: JobScratch = { on: "memory", sizeBytes: 1024 ** 3 };

/**
 * What `list` shows of a job, and all a manager keeps in memory of a finished one: its
 * status without argv and env (read from its record when asked for), and its command line
 * cut short.
 */
export interface JobSummary extends Omit<JobStatus, "argv" | "env"> {
  /** argv as one shell-quoted line, at most COMMAND_SUMMARY_CHARS characters. */
  readonly command: string;
}

/** Longest command line a summary keeps. */
export const COMMAND_SUMMARY_CHARS = 200;

/** How long finished jobs are kept (ijrd --retain, --retain-for); absent fields: no bound. */
export interface Retention {
  /** Most finished jobs kept; the oldest go first. */
  readonly count?: number;
  /** Finished jobs older than this (by their end) go. */
  readonly forMs?: number;
}

/** A job's confinement beyond its namespaces and cgroups. */
export interface JobIsolation {
  /**
   * Its user namespace: the host ids its uid and gid 0 map to, and how many ids follow;
   * absent when it runs as the host's root (ijrd --userns=off).
   */
  readonly userNamespace?: {
    readonly hostUid: number;
    readonly hostGid: number;
    readonly size: number;
  };
  /** Whether the default seccomp filter is installed (ijrd --seccomp default) or not (off). */
  readonly seccomp: boolean;
}
