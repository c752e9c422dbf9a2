/**
 * The cgroup controller the daemon and the job engine use, the same on v1 and v2 (crun's
 * `cgroup.c` facade): each step is written once here, in order, and the version-specific
 * work is a call into a backend's table of operations (backend.ts; v1.ts, v2.ts).
 *
 * - create: prepare the parent once -> check the limits against the controllers there ->
 *   make the job's directories (ALREADY_EXISTS when one is there) -> write the limits;
 *   a failure removes what this call made.
 * - open: the job's directories that still exist (a restarted daemon finds its jobs).
 * - removeStale: every job-named directory under the parent(s) not kept: kill, remove.
 * - capAllJobs: validate -> prepare -> write the caps on the parent.
 * @module
 */

import { IjrError } from "../errors/mod.ts";
import { type CgroupBackend, jobDirsOf } from "./backend.ts";
import { smallestMemoryLimit, validateAllJobsCaps } from "./caps.ts";
import { type CgroupLayout, detectHostCgroupLayout } from "./detect.ts";
import { makeCgroupDir } from "./fs.ts";
import { readMemTotal } from "./host.ts";
import { JobCgroupHandle } from "./job_cgroup.ts";
import type { BackendOptions } from "./options.ts";
import { cgroupDir, JOB_ID_PATTERN, validateJobId } from "./paths.ts";
import { removeCgroupTree, removeEmptyBelow } from "./remove.ts";
import type { AllJobsCaps, CgroupController, JobLimits, MemoryAvailable } from "./types.ts";
import { V1Backend } from "./v1.ts";
import { V2Backend } from "./v2.ts";

/** A {@link CgroupController} over one backend. */
export class BackendController implements CgroupController {
  readonly version: 1 | 2;
  readonly parentDirs: readonly string[];
  readonly #backend: CgroupBackend;
  readonly #options: BackendOptions;
  #prepared: Promise<ReadonlySet<string>> | undefined;

  constructor(backend: CgroupBackend, options: BackendOptions = {}) {
    this.#backend = backend;
    this.#options = options;
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

  async create(jobId: string, limits: JobLimits): Promise<JobCgroupHandle> {
    validateJobId(jobId);
    const available = await this.#available();
    this.#backend.checkLimits(limits, available);
    const dirs = this.#backend.jobDirs(jobId);
    const created: string[] = [];
    try {
      for (const dir of dirs.directories) {
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
    return new JobCgroupHandle(this.#backend, dirs, this.#options.remove);
  }

  async open(jobId: string): Promise<JobCgroupHandle | undefined> {
    validateJobId(jobId);
    const present = new Map<string, string>();
    for (const [controller, dir] of this.#backend.jobDirs(jobId).byController) {
      if (await this.#backend.fs.exists(dir)) present.set(controller, dir);
    }
    if (present.size === 0) return undefined;
    return new JobCgroupHandle(this.#backend, jobDirsOf(present), this.#options.remove);
  }

  async removeStale(keep: ReadonlySet<string>): Promise<string[]> {
    const names = new Set<string>();
    for (const dir of this.parentDirs) {
      try {
        for (const name of await this.#backend.fs.listDirs(dir)) names.add(name);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    const removed: string[] = [];
    for (const name of [...names].sort()) {
      if (keep.has(name) || !JOB_ID_PATTERN.test(name)) continue;
      const job = await this.open(name);
      if (!job) continue;
      await job.killAll();
      await job.remove();
      removed.push(name);
    }
    return removed;
  }

  async capAllJobs(caps: AllJobsCaps): Promise<void> {
    const checked = validateAllJobsCaps(caps);
    await this.#backend.writeAllJobsCaps(checked, await this.#available());
  }

  async readAllJobsCaps(): Promise<AllJobsCaps> {
    await this.#available();
    return await this.#backend.readAllJobsCaps();
  }

  async memoryAvailable(): Promise<MemoryAvailable> {
    const [limits, memTotal] = await Promise.all([this.#backend.memoryLimits(), readMemTotal()]);
    return smallestMemoryLimit(limits, memTotal);
  }

  async removeEmptyParents(): Promise<void> {
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
