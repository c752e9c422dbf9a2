/**
 * The contract between the job engine and resource control. The engine asks for a cgroup per
 * job before it spawns the job, hands the join information to the native spawner (so the
 * job's init is inside its cgroups before any job code runs), and asks the cgroup for usage,
 * a kill of everything inside, and removal when the job ends.
 * @module
 */

/** An IOPS limit on one block device, already resolved to its whole disk. */
export interface DeviceIops {
  /** The path the user gave, kept for status reports. */
  readonly device: string;
  /** Kernel device number of the whole disk. */
  readonly major: number;
  /** Kernel device number of the whole disk. */
  readonly minor: number;
  /** Operations per second, at least 1. */
  readonly iops: number;
}

/** Validated limits of one job. */
export interface JobLimits {
  /** CPU shares 2..262144 (v1 cpu.shares; converted to cpu.weight on v2). */
  readonly cpuShares: number;
  /** Memory limit in bytes; undefined means unlimited. */
  readonly memoryBytes?: number;
  /** Read IOPS limits. */
  readonly readIops: readonly DeviceIops[];
  /** Write IOPS limits. */
  readonly writeIops: readonly DeviceIops[];
  /** Maximum number of tasks (processes and threads). */
  readonly pids: number;
}

/** What the kernel measured for a job. */
export interface CgroupUsage {
  /** CPU time of all tasks, user plus system, in nanoseconds. */
  readonly cpuNanos: bigint;
  /** Peak memory in bytes (0 when the kernel does not report it). */
  readonly memoryPeakBytes: number;
  /** True when the OOM killer killed a task of this cgroup. */
  readonly oomKilled: boolean;
}

/** The cgroup(s) of one job. */
export interface JobCgroup {
  /**
   * cgroup v1: the `cgroup.procs` files the job's init must write "0" into, in the child,
   * before it execs anything (one per mounted hierarchy with a controller IJR uses).
   * Empty on v2.
   */
  readonly joinProcsFiles: readonly string[];
  /** cgroup v2: the directory to spawn into with CLONE_INTO_CGROUP. Undefined on v1. */
  readonly cloneIntoDir?: string;
  /** Reads usage counters; safe to call while running and after the tasks are gone. */
  usage(): Promise<CgroupUsage>;
  /** Kills every task in the cgroup (v2 cgroup.kill; v1 freeze, SIGKILL each, thaw). */
  killAll(): Promise<void>;
  /** Removes the cgroup directories, retrying while the kernel reports them busy. */
  remove(): Promise<void>;
}

/** Creates job cgroups under the daemon's own cgroup. */
export interface CgroupController {
  /** 1 for cgroup v1 (including hybrid hosts), 2 for the unified hierarchy. */
  readonly version: 1 | 2;
  /** Creates the job's cgroup(s) and writes its limits. */
  create(jobId: string, limits: JobLimits): Promise<JobCgroup>;
  /** Opens the cgroup of a job left by a previous daemon run, if it still exists. */
  open(jobId: string): Promise<JobCgroup | undefined>;
  /** Removes job cgroups whose IDs are not in `keep` (leftovers from a crash). */
  removeStale(keep: ReadonlySet<string>): Promise<string[]>;
}
