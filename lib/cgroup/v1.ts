/**
 * The cgroup v1 backend. A job gets one directory `<parent>/<jobId>` in each mounted
 * hierarchy IJR uses (cpu, cpuacct, memory, blkio, pids, freezer; several controllers may
 * share a hierarchy). Its init joins them by writing "0" to each `cgroup.procs` before exec.
 *
 * | limit | file |
 * |---|---|
 * | CPU shares | `cpu.shares` |
 * | memory | `memory.limit_in_bytes`, then `memory.memsw.limit_in_bytes` with the same value (no swap beyond the limit); without swap accounting `memory.swappiness` 0 |
 * | IOPS | `blkio.throttle.read_iops_device`, `blkio.throttle.write_iops_device`: one "MAJ:MIN N" per write |
 * | pids | `pids.max` |
 *
 * Only files inside the job's own directories are written; parents are only created.
 * @module
 */

import { IjrError } from "../errors/mod.ts";
import type { V1Controller, V1Hierarchy, V1Layout } from "./detect.ts";
import { type CgroupFs, hostCgroupFs, makeCgroupDir, writeCgroupFile } from "./fs.ts";
import { killAllV1 } from "./kill.ts";
import type { BackendOptions } from "./options.ts";
import {
  cgroupDir,
  isWithin,
  JOB_ID_PATTERN,
  joinCgroupPath,
  pathsBetween,
  resolveParentPath,
  validateJobId,
} from "./paths.ts";
import { removeCgroupTree, removeEmptyBelow } from "./remove.ts";
import type { CgroupController, CgroupUsage, JobCgroup, JobLimits } from "./types.ts";
import { readV1Usage } from "./usage.ts";

/** One hierarchy with the job parent resolved in it. */
interface V1Place {
  readonly hierarchy: V1Hierarchy;
  /** Our own cgroup path in this hierarchy. */
  readonly ownPath: string;
  /** The job parent's cgroup path in this hierarchy. */
  readonly parentPath: string;
  /** The job parent's directory. */
  readonly parentDir: string;
}

/** The cgroups of one job on a v1 host. */
export class V1JobCgroup implements JobCgroup {
  readonly joinProcsFiles: readonly string[];
  readonly cloneIntoDir: undefined = undefined;
  /** The job's directory in each hierarchy, in hierarchy order. */
  readonly directories: readonly string[];
  readonly #fs: CgroupFs;
  readonly #byController: ReadonlyMap<V1Controller, string>;
  readonly #options: BackendOptions;
  #final: CgroupUsage | undefined;

  constructor(
    fs: CgroupFs,
    byController: ReadonlyMap<V1Controller, string>,
    options: BackendOptions,
  ) {
    this.#fs = fs;
    this.#byController = byController;
    this.#options = options;
    this.directories = [...new Set(byController.values())];
    this.joinProcsFiles = this.directories.map((dir) => `${dir}/cgroup.procs`);
  }

  /** The job's directory in the hierarchy of `controller`, if that is mounted. */
  dirOf(controller: V1Controller): string | undefined {
    return this.#byController.get(controller);
  }

  usage(): Promise<CgroupUsage> {
    if (this.#final) return Promise.resolve(this.#final);
    return readV1Usage(this.#fs, {
      cpuacct: this.#byController.get("cpuacct"),
      memory: this.#byController.get("memory"),
    });
  }

  killAll(): Promise<void> {
    return killAllV1(this.#fs, {
      freezerDir: this.#byController.get("freezer"),
      dirs: this.directories,
    }, this.#options.kill);
  }

  async remove(): Promise<void> {
    // The counters vanish with the directories: keep their last values for status reports.
    if (!this.#final) this.#final = await this.usage();
    for (const dir of this.directories) {
      await removeCgroupTree(this.#fs, dir, this.#options.remove);
    }
  }
}

/** Creates job cgroups on a cgroup v1 (or hybrid) host. */
export class CgroupV1Controller implements CgroupController {
  readonly version = 1 as const;
  readonly #fs: CgroupFs;
  readonly #places: readonly V1Place[];
  readonly #options: BackendOptions;

  constructor(layout: V1Layout, options: BackendOptions = {}) {
    this.#fs = options.fs ?? hostCgroupFs;
    this.#options = options;
    this.#places = layout.hierarchies.map((hierarchy) => {
      const parentPath = resolveParentPath(hierarchy.ownPath, options.parent);
      return {
        hierarchy,
        ownPath: hierarchy.ownPath,
        parentPath,
        parentDir: cgroupDir(hierarchy.mountPoint, parentPath),
      };
    });
  }

  /** The job parent's directory in each hierarchy. */
  get parentDirs(): string[] {
    return this.#places.map((place) => place.parentDir);
  }

  #jobDirs(jobId: string): Map<V1Controller, string> {
    const dirs = new Map<V1Controller, string>();
    for (const place of this.#places) {
      const dir = cgroupDir(place.hierarchy.mountPoint, joinCgroupPath(place.parentPath, jobId));
      for (const controller of place.hierarchy.controllers) dirs.set(controller, dir);
    }
    return dirs;
  }

  #has(controller: V1Controller): boolean {
    return this.#places.some((place) => place.hierarchy.controllers.includes(controller));
  }

  async #ensureParents(): Promise<void> {
    for (const place of this.#places) {
      // Below our own cgroup we create what is missing; an absolute parent elsewhere is the
      // operator's delegation, created from the root down if needed.
      const anchor = isWithin(place.parentPath, place.ownPath) ? place.ownPath : "/";
      for (const path of pathsBetween(anchor, place.parentPath)) {
        await makeCgroupDir(this.#fs, cgroupDir(place.hierarchy.mountPoint, path));
      }
    }
  }

  async create(jobId: string, limits: JobLimits): Promise<V1JobCgroup> {
    validateJobId(jobId);
    if (limits.memoryBytes !== undefined && !this.#has("memory")) {
      throw new IjrError(
        "FAILED_PRECONDITION",
        "memory limit asked for, but the memory cgroup controller is not mounted",
      );
    }
    if ((limits.readIops.length > 0 || limits.writeIops.length > 0) && !this.#has("blkio")) {
      throw new IjrError(
        "FAILED_PRECONDITION",
        "IOPS limits asked for, but the blkio cgroup controller is not mounted",
      );
    }
    await this.#ensureParents();
    const byController = this.#jobDirs(jobId);
    const job = new V1JobCgroup(this.#fs, byController, this.#options);
    const created: string[] = [];
    try {
      for (const dir of job.directories) {
        if (!(await makeCgroupDir(this.#fs, dir))) {
          throw new IjrError("ALREADY_EXISTS", `cgroup ${dir} of job ${jobId} already exists`);
        }
        created.push(dir);
      }
      await this.#writeLimits(byController, limits);
    } catch (error) {
      // Nothing half-made stays behind: the directories are new and empty.
      for (const dir of created.reverse()) {
        await removeCgroupTree(this.#fs, dir, this.#options.remove).catch(() => {});
      }
      throw error;
    }
    return job;
  }

  async #writeLimits(dirs: ReadonlyMap<V1Controller, string>, limits: JobLimits): Promise<void> {
    const fs = this.#fs;
    await writeCgroupFile(fs, `${dirs.get("cpu")}/cpu.shares`, String(limits.cpuShares));
    const memory = dirs.get("memory");
    if (limits.memoryBytes !== undefined && memory) {
      const bytes = String(limits.memoryBytes);
      // memsw (memory + swap) may never be below the memory limit, so memory goes first.
      await writeCgroupFile(fs, `${memory}/memory.limit_in_bytes`, bytes);
      if (await fs.exists(`${memory}/memory.memsw.limit_in_bytes`)) {
        await writeCgroupFile(fs, `${memory}/memory.memsw.limit_in_bytes`, bytes);
      } else if (await fs.exists(`${memory}/memory.swappiness`)) {
        // Without swap accounting the next best way to keep the job out of swap.
        await writeCgroupFile(fs, `${memory}/memory.swappiness`, "0");
      }
    }
    const blkio = dirs.get("blkio");
    for (const limit of limits.readIops) {
      await writeCgroupFile(
        fs,
        `${blkio}/blkio.throttle.read_iops_device`,
        `${limit.major}:${limit.minor} ${limit.iops}`,
      );
    }
    for (const limit of limits.writeIops) {
      await writeCgroupFile(
        fs,
        `${blkio}/blkio.throttle.write_iops_device`,
        `${limit.major}:${limit.minor} ${limit.iops}`,
      );
    }
    await writeCgroupFile(fs, `${dirs.get("pids")}/pids.max`, String(limits.pids));
  }

  async open(jobId: string): Promise<V1JobCgroup | undefined> {
    validateJobId(jobId);
    const all = this.#jobDirs(jobId);
    const present = new Map<V1Controller, string>();
    for (const [controller, dir] of all) {
      if (await this.#fs.exists(dir)) present.set(controller, dir);
    }
    if (present.size === 0) return undefined;
    return new V1JobCgroup(this.#fs, present, this.#options);
  }

  async removeStale(keep: ReadonlySet<string>): Promise<string[]> {
    const names = new Set<string>();
    for (const place of this.#places) {
      try {
        for (const name of await this.#fs.listDirs(place.parentDir)) names.add(name);
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

  /**
   * Removes the job parent directories IJR created below its own cgroup when they are empty
   * (at daemon shutdown, and after tests). An absolute parent is the operator's and stays.
   */
  async removeEmptyParents(): Promise<void> {
    for (const place of this.#places) {
      await removeEmptyBelow(this.#fs, {
        mountPoint: place.hierarchy.mountPoint,
        ownPath: place.ownPath,
        parentPath: place.parentPath,
      });
    }
  }
}
