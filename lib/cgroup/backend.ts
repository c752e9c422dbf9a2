/**
 * The table of operations a cgroup version provides, in the shape of crun's cgroup managers:
 * the version-independent skeleton (controller.ts for the job parent, job_cgroup.ts for one
 * job) does the steps in order and asks the backend only for what differs between v1 and v2
 * (which files, which directories, how to kill). v1.ts and v2.ts implement it.
 * @module
 */

import type { CgroupFs } from "./fs.ts";
import type { ParentPlace } from "./remove.ts";
import type { AllJobsCaps, CgroupUsage, JobCgroup, JobLimits } from "./types.ts";

/** The directories of one job: one per hierarchy on v1, a single one on v2. */
export interface JobDirs {
  /** The directory that holds each controller's files ("memory" -> ".../ijr/job-1"). */
  readonly byController: ReadonlyMap<string, string>;
  /** Each directory once, in hierarchy order. */
  readonly directories: readonly string[];
}

/** Builds {@link JobDirs} from the directory of each controller. */
export function jobDirsOf(byController: ReadonlyMap<string, string>): JobDirs {
  return { byController, directories: [...new Set(byController.values())] };
}

/** How the spawner puts a job's init into its cgroup(s). */
export type JobPlacement = Pick<JobCgroup, "joinProcsFiles" | "cloneIntoDir">;

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
  /** Where the files of job `jobId` are (the directories need not exist). */
  jobDirs(jobId: string): JobDirs;
  /** Writes a new job's limits into its (existing, empty) directories. */
  writeLimits(dirs: JobDirs, limits: JobLimits, available: ReadonlySet<string>): Promise<void>;
  /** How the spawner enters the job's cgroup(s). */
  placement(dirs: JobDirs): JobPlacement;
  /** Reads the job's usage counters. */
  readUsage(dirs: JobDirs): Promise<CgroupUsage>;
  /** Kills every task of the job's cgroup(s) and the cgroups below them. */
  killAll(dirs: JobDirs): Promise<void>;
  /** Writes the caps on all jobs onto the job parent (after {@link prepare}). */
  writeAllJobsCaps(caps: AllJobsCaps, available: ReadonlySet<string>): Promise<void>;
  /** Reads the caps on all jobs back from the job parent. */
  readAllJobsCaps(): Promise<AllJobsCaps>;
  /** The memory limits from the job parent up to the hierarchy's root, in that order. */
  memoryLimits(): Promise<MemoryLimitAt[]>;
}
