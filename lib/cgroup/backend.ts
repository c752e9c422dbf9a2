/**
 * The table of operations a cgroup version provides, in the shape of crun's cgroup managers:
 * the version-independent skeleton (controller.ts for the job parent, groups.ts for the
 * users' groups, job_cgroup.ts for one job) does the steps in order and asks the backend only
 * for what differs between v1 and v2 (which files, which directories, how to kill). v1.ts and
 * v2.ts implement it.
 * @module
 */

import type { CgroupFs } from "./fs.ts";
import type { ParentPlace } from "./remove.ts";
import type { AllJobsCaps, CgroupUsage, JobCgroup, JobLimits } from "./types.ts";

/**
 * The directories of one cgroup (the job parent, a group, a job): one per hierarchy on v1, a
 * single one on v2.
 */
export interface CgroupDirs {
  /** The directory that holds each controller's files ("memory" -> ".../ijr/job-1"). */
  readonly byController: ReadonlyMap<string, string>;
  /** Each directory once, in hierarchy order. */
  readonly directories: readonly string[];
}

/** Builds {@link CgroupDirs} from the directory of each controller. */
export function cgroupDirsOf(byController: ReadonlyMap<string, string>): CgroupDirs {
  return { byController, directories: [...new Set(byController.values())] };
}

/** What a set of caps is written with. */
export interface CapsTarget {
  /** The controllers job cgroups get (from {@link CgroupBackend.prepare}). */
  readonly available: ReadonlySet<string>;
  /** What the caps cap, for messages: "all jobs", "all jobs of user-alice-2bd806c9". */
  readonly on: string;
}

/** How the spawner puts a job's init into its cgroup(s). */
export type JobPlacement = Pick<JobCgroup, "joinTaskFiles" | "cloneIntoDir">;

/** A memory limit on the path from the job parent up to the root. */
export interface MemoryLimitAt {
  /** The cgroup's directory. */
  readonly dir: string;
  /** Its limit in bytes; undefined for none ("max", or v1's page-counter maximum). */
  readonly bytes: number | undefined;
}

/** What one cgroup version does; the skeleton calls these in order. */
export interface CgroupBackend {
  readonly version: 1 | 2;
  /**
   * True when the kernel renames a cgroup within its parent (v1), so job cgroups can be made
   * ahead (spares.ts); cgroup2 refuses every rename.
   */
  readonly renamesCgroups: boolean;
  /** The file operations every step goes through. */
  readonly fs: CgroupFs;
  /** The job parent in each hierarchy IJR uses (one on v2). */
  readonly places: readonly ParentPlace[];
  /**
   * Creates the job parent(s) and what job cgroups need above them (v2: controllers enabled
   * down the path). Resolves to the controllers job cgroups get.
   */
  prepare(): Promise<ReadonlySet<string>>;
  /** Throws FAILED_PRECONDITION when `limits` needs a controller `available` lacks. */
  checkLimits(limits: JobLimits, available: ReadonlySet<string>): void;
  /**
   * Where the files of cgroup `<parent>/<relative joined by "/">` are: `[]` is the job parent,
   * `[jobId]` a job directly under it, `[group]` a group, `[group, jobId]` a job in a group.
   * The directories need not exist.
   */
  dirsBelowParent(relative: readonly string[]): CgroupDirs;
  /**
   * Makes a new group (its existing, empty directories) ready for job cgroups below it, after
   * {@link prepare}: v2 enables the jobs' controllers in its `cgroup.subtree_control`.
   */
  prepareGroup(dirs: CgroupDirs, available: ReadonlySet<string>): Promise<void>;
  /** Writes a new job's limits into its (existing, empty) directories. */
  writeLimits(dirs: CgroupDirs, limits: JobLimits, available: ReadonlySet<string>): Promise<void>;
  /** How the spawner enters the job's cgroup(s). */
  placement(dirs: CgroupDirs): JobPlacement;
  /** Reads the job's usage counters. */
  readUsage(dirs: CgroupDirs): Promise<CgroupUsage>;
  /** Kills every task of the job's cgroup(s) and the cgroups below them. */
  killAll(dirs: CgroupDirs): Promise<void>;
  /**
   * Writes caps on everything below a cgroup (pids, memory) into its existing directories:
   * the job parent's caps on all jobs, or a group's on its owner's jobs.
   */
  writeCaps(dirs: CgroupDirs, caps: AllJobsCaps, target: CapsTarget): Promise<void>;
  /** Reads back the caps {@link writeCaps} writes, as the kernel keeps them. */
  readCaps(dirs: CgroupDirs): Promise<AllJobsCaps>;
  /** The memory limits from the job parent up to the hierarchy's root, in that order. */
  memoryLimits(): Promise<MemoryLimitAt[]>;
}
