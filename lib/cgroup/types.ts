/**
 * The contract between resource control and its users. The daemon prepares the job parent,
 * caps what all jobs use together and what each user's jobs use together, and removes the
 * empty parents when it stops; the engine asks for a cgroup per job, in its owner's group,
 * before it spawns the job, hands the join information to the native spawner (so the job's
 * init is inside its cgroups before any job code runs), and asks the cgroup for usage, a
 * kill of everything inside, and removal when the job ends. Nothing here names a cgroup
 * version.
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
   * cgroup v1: the `tasks` files the job's init must write "0" into, in the child,
   * before it execs anything (one per mounted hierarchy with a controller IJR uses).
   * Empty on v2.
   */
  readonly joinTaskFiles: readonly string[];
  /** cgroup v2: the directory to spawn into with CLONE_INTO_CGROUP. Undefined on v1. */
  readonly cloneIntoDir?: string;
  /** Reads usage counters; safe to call while running and after the tasks are gone. */
  usage(): Promise<CgroupUsage>;
  /**
   * The counters once the job has ended (nothing of it runs in the cgroup any more): read
   * once and kept, so that remove() does not read them again.
   */
  finalUsage(): Promise<CgroupUsage>;
  /** Kills every task in the cgroup (v2 cgroup.kill; v1 freeze, SIGKILL each, thaw). */
  killAll(): Promise<void>;
  /**
   * The processes in the cgroup and any cgroup below it, in every hierarchy (host pids,
   * each once): where a restarted ijrd looks for a job's init.
   */
  processes(): Promise<number[]>;
  /** Removes the cgroup directories, retrying while the kernel reports them busy. */
  remove(): Promise<void>;
}

/**
 * Caps on what all jobs of one daemon use together, kept by the kernel on the job parent (the
 * cgroup every job cgroup lives under), or on what all jobs of one user use together, kept on
 * the user's group. A cap left undefined means no cap ("max").
 */
export interface AllJobsCaps {
  /** Tasks (processes and threads) of all jobs together. */
  readonly pids?: number;
  /** Memory of all jobs together, in bytes (swap not allowed beyond it). */
  readonly memoryBytes?: number;
}

/** How much memory the job parent can get, and which limit says so. */
export interface MemoryAvailable {
  /** Bytes. */
  readonly bytes: number;
  /**
   * Where the number comes from: the directory of the cgroup whose limit is the smallest on
   * the path from the job parent up to the root, or "/proc/meminfo" (MemTotal) when no
   * cgroup on that path has a limit below the host's memory.
   */
  readonly source: string;
}

/** Options of {@link CgroupController.create}. */
export interface CreateJobCgroupOptions {
  /**
   * When the group's next spare may be made (where spares are made): once this settles, e.g.
   * when the job's start is done. Default: the next turn of the event loop.
   */
  readonly refillAfter?: Promise<unknown>;
}

/**
 * Resource control as the daemon and the job engine see it, the same on cgroup v1 and v2:
 * job cgroups under the daemon's own cgroup (or `--cgroup-parent`), in their owner's group
 * (`<parent>/<group>/<jobId>`), each with its limits written before the job starts.
 */
export interface CgroupController {
  /** 1 for cgroup v1 (including hybrid hosts), 2 for the unified hierarchy. */
  readonly version: 1 | 2;
  /** The job parent's directory in each hierarchy IJR uses (one on v2), for logs. */
  readonly parentDirs: readonly string[];
  /**
   * Creates the job parent and, on v2, enables the controllers down the path to it (moving
   * the daemon into its leaf first). Done once; concurrent callers share the work, and every
   * other method prepares by itself when it needs to.
   */
  prepare(): Promise<void>;
  /**
   * Creates the job's cgroup(s) and writes its limits. With `group` (the owner's,
   * `userGroupName(owner)`) the job's cgroup is `<parent>/<group>/<jobId>`: the group is made
   * by its first job, with its caps written (capGroup, capEveryGroup) before the job's cgroup
   * is made in it, and removed by the removal of its last job's cgroup. Without a group the
   * job's cgroup is `<parent>/<jobId>`, the layout of an ijrd before groups, under no
   * per-user cap. INVALID_ARGUMENT for a job ID or group that cannot name a cgroup,
   * FAILED_PRECONDITION for a limit the controllers cannot keep, ALREADY_EXISTS when the
   * job's cgroup is there.
   */
  create(
    jobId: string,
    limits: JobLimits,
    group?: string,
    options?: CreateJobCgroupOptions,
  ): Promise<JobCgroup>;
  /**
   * Opens the cgroup of a job left by a previous daemon run, if it still exists: in `group`
   * (as create), or directly under the parent without one. Its removal removes an emptied
   * group as create's does.
   */
  open(jobId: string, group?: string): Promise<JobCgroup | undefined>;
  /**
   * Kills and removes the job cgroups whose IDs are not in `keep` (leftovers from a crash):
   * those in groups, and those directly under the parent (left by an ijrd from before
   * groups); then every group left without jobs. Resolves to the IDs removed, sorted.
   */
  removeStale(keep: ReadonlySet<string>): Promise<string[]>;
  /**
   * Writes the caps on what all jobs use together on the job parent; a cap left undefined
   * is lifted ("max"), so a daemon restarted without a cap does not keep the old one.
   * INVALID_ARGUMENT for a cap out of range, FAILED_PRECONDITION when the kernel cannot
   * keep it (a controller not delegated, a v1 memory hierarchy that is not hierarchical).
   */
  capAllJobs(caps: AllJobsCaps): Promise<void>;
  /** Reads back the caps in force on the job parent, as the kernel keeps them. */
  readAllJobsCaps(): Promise<AllJobsCaps>;
  /**
   * Gives `group` caps of its own on what all of its jobs use together (`pids.max` and the
   * memory limit on the group's cgroup, as capAllJobs on the parent; undefined = lifted):
   * written now when the group exists, and again whenever it is made. They take precedence
   * over capEveryGroup's. INVALID_ARGUMENT for a cap out of range or a name that is not a
   * group's, FAILED_PRECONDITION as for capAllJobs.
   */
  capGroup(group: string, caps: AllJobsCaps): Promise<void>;
  /**
   * Sets the caps of every group that has none of its own (capGroup): written now on each
   * group that exists, and on each group made from now on (ijrd's per-user caps; see
   * perUserCaps). Errors as capGroup.
   */
  capEveryGroup(caps: AllJobsCaps): Promise<void>;
  /**
   * Reads back the caps in force on `group`, as the kernel keeps them; undefined while the
   * group does not exist (it has no running job).
   */
  readGroupCaps(group: string): Promise<AllJobsCaps | undefined>;
  /**
   * The smallest memory limit on the path from the job parent up to the root (the job
   * parent's own cap counts), or the host's MemTotal when that is smaller or there is none.
   */
  memoryAvailable(): Promise<MemoryAvailable>;
  /**
   * Removes the groups without jobs, then the job parent directories IJR created below its
   * own cgroup when they are empty (at daemon shutdown, and after tests). An absolute parent
   * is the operator's and stays.
   */
  removeEmptyParents(): Promise<void>;
}
