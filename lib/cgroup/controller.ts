/**
 * The cgroup controller the daemon and the job engine use, the same on v1 and v2 (crun's
 * `cgroup.c` facade): each step is written once here, in order, and the version-specific
 * work is a call into a backend's table of operations (backend.ts; v1.ts, v2.ts).
 *
 * - create: prepare the parent once -> check the limits against the controllers there ->
 *   (with a group, under the group's lock: rename the group's spare to the job's ID where
 *   spares are made, else make the group with its caps if missing) -> make the job's
 *   directories unless a spare became them (ALREADY_EXISTS when one is there) -> write the
 *   limits; a failure removes what this call made, the group too when it is left without jobs
 *   (after its linger, where groups linger).
 * - open: the job's directories that still exist (a restarted daemon finds its jobs).
 * - remove (of a job in a group): the job's directories, then, under the group's lock, the
 *   group when that was its last job (on v1 with spares: when its linger ends).
 * - removeStale: every job-named directory not kept, and every spare of an earlier run, in
 *   each group (then the group, when empty) and directly under the parent (the layout of an
 *   ijrd before groups): kill, remove.
 * - capAllJobs: validate -> prepare -> write the caps on the parent. capGroup and
 *   capEveryGroup: validate -> prepare -> remember, and write on the groups that exist.
 * @module
 */

import { IjrError } from "../errors/mod.ts";
import { type CgroupBackend, type CgroupDirs, cgroupDirsOf } from "./backend.ts";
import { smallestMemoryLimit, validateAllJobsCaps } from "./caps.ts";
import { type CgroupLayout, detectHostCgroupLayout } from "./detect.ts";
import { listChildCgroups, makeCgroupDir } from "./fs.ts";
import { isGroupName, validateGroupName } from "./group_name.ts";
import { groupCapsScope, UserGroups } from "./groups.ts";
import { readMemTotal } from "./host.ts";
import { JobCgroupHandle } from "./job_cgroup.ts";
import type { BackendOptions } from "./options.ts";
import { cgroupDir, JOB_ID_PATTERN, validateJobId } from "./paths.ts";
import { removeCgroupTree, removeEmptyBelow } from "./remove.ts";
import type {
  AllJobsCaps,
  CgroupController,
  CreateJobCgroupOptions,
  JobLimits,
  MemoryAvailable,
} from "./types.ts";
import { V1Backend } from "./v1.ts";
import { V2Backend } from "./v2.ts";

/** A {@link CgroupController} over one backend. */
export class BackendController implements CgroupController {
  readonly version: 1 | 2;
  readonly parentDirs: readonly string[];
  readonly #backend: CgroupBackend;
  readonly #options: BackendOptions;
  readonly #groups: UserGroups;
  #prepared: Promise<ReadonlySet<string>> | undefined;

  constructor(backend: CgroupBackend, options: BackendOptions = {}) {
    this.#backend = backend;
    this.#options = options;
    this.#groups = new UserGroups(backend, {
      remove: options.remove,
      lingerMs: options.groupLingerMs,
    });
    this.version = backend.version;
    this.parentDirs = backend.places.map((place) => cgroupDir(place.mountPoint, place.parentPath));
  }

  /** Prepares once (a failure lets the next call try again); resolves to the controllers. */
  #available(): Promise<ReadonlySet<string>> {
    this.#prepared ??= this.#backend.prepare().catch((error) => {
      this.#prepared = undefined;
      throw error;
    });
    return this.#prepared;
  }

  async prepare(): Promise<void> {
    await this.#available();
  }

  async create(
    jobId: string,
    limits: JobLimits,
    group?: string,
    options: CreateJobCgroupOptions = {},
  ): Promise<JobCgroupHandle> {
    validateJobId(jobId);
    if (group !== undefined) validateGroupName(group);
    const available = await this.#available();
    this.#backend.checkLimits(limits, available);
    if (group === undefined) return await this.#createJob(jobId, limits, available);
    return await this.#groups.within(
      group,
      available,
      jobId,
      (inPlace) => this.#createJob(jobId, limits, available, group, inPlace),
      options.refillAfter,
    );
  }

  /**
   * Makes the job's directories (in its group, which exists), unless they are `inPlace` (a
   * spare renamed to the job's ID), and writes its limits.
   */
  async #createJob(
    jobId: string,
    limits: JobLimits,
    available: ReadonlySet<string>,
    group?: string,
    inPlace = false,
  ): Promise<JobCgroupHandle> {
    const dirs = this.#backend.dirsBelowParent(group === undefined ? [jobId] : [group, jobId]);
    const created: string[] = inPlace ? [...dirs.directories] : [];
    try {
      for (const dir of inPlace ? [] : dirs.directories) {
        if (!(await makeCgroupDir(this.#backend.fs, dir))) {
          throw new IjrError("ALREADY_EXISTS", `cgroup ${dir} of job ${jobId} already exists`);
        }
        created.push(dir);
      }
      await this.#backend.writeLimits(dirs, limits, available);
    } catch (error) {
      // Nothing half-made stays behind: the directories are new and empty.
      for (const dir of created.reverse()) {
        await removeCgroupTree(this.#backend.fs, dir, this.#options.remove).catch(() => {});
      }
      throw error;
    }
    return this.#handle(dirs, group);
  }

  /** The handle of a job's directories; a job in a group releases the group on removal. */
  #handle(dirs: CgroupDirs, group: string | undefined): JobCgroupHandle {
    return new JobCgroupHandle(this.#backend, dirs, {
      remove: this.#options.remove,
      afterRemove: group === undefined ? undefined : () => this.#groups.release(group),
    });
  }

  /** The job's directories that exist, or undefined when none does. */
  async #presentDirs(relative: readonly string[]): Promise<CgroupDirs | undefined> {
    const present = new Map<string, string>();
    for (const [controller, dir] of this.#backend.dirsBelowParent(relative).byController) {
      if (await this.#backend.fs.exists(dir)) present.set(controller, dir);
    }
    return present.size === 0 ? undefined : cgroupDirsOf(present);
  }

  async open(jobId: string, group?: string): Promise<JobCgroupHandle | undefined> {
    validateJobId(jobId);
    if (group !== undefined) validateGroupName(group);
    const dirs = await this.#presentDirs(group === undefined ? [jobId] : [group, jobId]);
    return dirs && this.#handle(dirs, group);
  }

  async removeStale(keep: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    const names = await listChildCgroups(this.#backend.fs, this.parentDirs);
    for (const name of names) {
      if (isGroupName(name)) {
        removed.push(
          ...await this.#groups.removeStale(
            name,
            keep,
            (jobId) => this.#killAndRemove([name, jobId]),
          ),
        );
      } else if (JOB_ID_PATTERN.test(name) && !keep.has(name)) {
        // A job directly under the parent: left by an ijrd from before groups.
        if (await this.#killAndRemove([name])) removed.push(name);
      }
    }
    return removed.sort();
  }

  /** Kills and removes the job at `relative` below the parent; false when it is not there. */
  async #killAndRemove(relative: readonly string[]): Promise<boolean> {
    const dirs = await this.#presentDirs(relative);
    if (!dirs) return false;
    // No group release here: the caller holds the group's lock and removes it itself.
    const job = new JobCgroupHandle(this.#backend, dirs, { remove: this.#options.remove });
    await job.killAll();
    await job.remove();
    return true;
  }

  async capAllJobs(caps: AllJobsCaps): Promise<void> {
    const checked = validateAllJobsCaps(caps);
    const available = await this.#available();
    await this.#backend.writeCaps(this.#backend.dirsBelowParent([]), checked, {
      available,
      on: "all jobs",
    });
  }

  async readAllJobsCaps(): Promise<AllJobsCaps> {
    await this.#available();
    return await this.#backend.readCaps(this.#backend.dirsBelowParent([]));
  }

  async capGroup(group: string, caps: AllJobsCaps): Promise<void> {
    validateGroupName(group);
    const checked = validateAllJobsCaps(caps, groupCapsScope(group));
    await this.#groups.cap(group, checked, await this.#available());
  }

  async capEveryGroup(caps: AllJobsCaps): Promise<void> {
    const checked = validateAllJobsCaps(caps, "all jobs of each user");
    await this.#groups.capEvery(checked, await this.#available());
  }

  async readGroupCaps(group: string): Promise<AllJobsCaps | undefined> {
    validateGroupName(group);
    return await this.#groups.read(group);
  }

  async memoryAvailable(): Promise<MemoryAvailable> {
    const [limits, memTotal] = await Promise.all([this.#backend.memoryLimits(), readMemTotal()]);
    return smallestMemoryLimit(limits, memTotal);
  }

  async removeEmptyParents(): Promise<void> {
    // Spares and groups without jobs first (lingering ones, on v1), so the parents above them
    // can be empty.
    await this.#groups.releaseAll();
    for (const place of this.#backend.places) await removeEmptyBelow(this.#backend.fs, place);
    // The parents may be gone now: the next use makes them again.
    this.#prepared = undefined;
  }
}

/** Options of {@link createCgroupController}. */
export interface CreateControllerOptions extends BackendOptions {
  /** The layout to use; detected from /proc/self when omitted. */
  readonly layout?: CgroupLayout;
}

/** The controller of a known layout (the backend its version needs). */
export function controllerForLayout(
  layout: CgroupLayout,
  options: BackendOptions = {},
): BackendController {
  const backend = layout.version === 1
    ? new V1Backend(layout, options)
    : new V2Backend(layout, options);
  return new BackendController(backend, options);
}

/**
 * Detects the host's cgroup layout (unless given) and returns its controller.
 * FAILED_PRECONDITION when no usable cgroup file system is mounted.
 */
export async function createCgroupController(
  options: CreateControllerOptions = {},
): Promise<CgroupController> {
  const layout = options.layout ?? await detectHostCgroupLayout();
  return controllerForLayout(layout, options);
}
