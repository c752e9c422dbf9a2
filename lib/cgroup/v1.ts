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
import type { CgroupBackend, JobDirs, JobPlacement } from "./backend.ts";
import { jobDirsOf } from "./backend.ts";
import type { V1Controller, V1Layout } from "./detect.ts";
import { type CgroupFs, hostCgroupFs, makeCgroupDir, writeCgroupFile } from "./fs.ts";
import { killAllV1 } from "./kill.ts";
import type { BackendOptions } from "./options.ts";
import { cgroupDir, isWithin, joinCgroupPath, pathsBetween, resolveParentPath } from "./paths.ts";
import type { ParentPlace } from "./remove.ts";
import type { CgroupUsage, JobLimits } from "./types.ts";
import { readV1Usage } from "./usage.ts";

/** One hierarchy with the job parent resolved in it. */
interface V1Place extends ParentPlace {
  /** The controllers IJR uses on this hierarchy. */
  readonly controllers: readonly V1Controller[];
  /** The job parent's directory. */
  readonly parentDir: string;
}

/** The cgroup v1 (or hybrid) operations. */
export class V1Backend implements CgroupBackend {
  readonly version = 1 as const;
  readonly fs: CgroupFs;
  readonly places: readonly V1Place[];
  readonly #options: BackendOptions;

  constructor(layout: V1Layout, options: BackendOptions = {}) {
    this.fs = options.fs ?? hostCgroupFs;
    this.#options = options;
    this.places = layout.hierarchies.map((hierarchy) => {
      const parentPath = resolveParentPath(hierarchy.ownPath, options.parent);
      return {
        controllers: hierarchy.controllers,
        mountPoint: hierarchy.mountPoint,
        ownPath: hierarchy.ownPath,
        parentPath,
        parentDir: cgroupDir(hierarchy.mountPoint, parentPath),
      };
    });
  }

  async prepare(): Promise<ReadonlySet<string>> {
    for (const place of this.places) {
      // Below our own cgroup we create what is missing; an absolute parent elsewhere is the
      // operator's delegation, created from the root down if needed.
      const anchor = isWithin(place.parentPath, place.ownPath) ? place.ownPath : "/";
      for (const path of pathsBetween(anchor, place.parentPath)) {
        await makeCgroupDir(this.fs, cgroupDir(place.mountPoint, path));
      }
    }
    // On v1 every mounted controller reaches every cgroup of its hierarchy.
    return new Set(this.places.flatMap((place) => place.controllers));
  }

  checkLimits(limits: JobLimits, available: ReadonlySet<string>): void {
    if (limits.memoryBytes !== undefined && !available.has("memory")) {
      throw new IjrError(
        "FAILED_PRECONDITION",
        "memory limit asked for, but the memory cgroup controller is not mounted",
      );
    }
    if ((limits.readIops.length > 0 || limits.writeIops.length > 0) && !available.has("blkio")) {
      throw new IjrError(
        "FAILED_PRECONDITION",
        "IOPS limits asked for, but the blkio cgroup controller is not mounted",
      );
    }
  }

  jobDirs(jobId: string): JobDirs {
    const dirs = new Map<string, string>();
    for (const place of this.places) {
      const dir = cgroupDir(place.mountPoint, joinCgroupPath(place.parentPath, jobId));
      for (const controller of place.controllers) dirs.set(controller, dir);
    }
    return jobDirsOf(dirs);
  }

  async writeLimits(dirs: JobDirs, limits: JobLimits): Promise<void> {
    const fs = this.fs;
    const dirOf = (controller: V1Controller) => dirs.byController.get(controller);
    await writeCgroupFile(fs, `${dirOf("cpu")}/cpu.shares`, String(limits.cpuShares));
    const memory = dirOf("memory");
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
    const blkio = dirOf("blkio");
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
    await writeCgroupFile(fs, `${dirOf("pids")}/pids.max`, String(limits.pids));
  }

  placement(dirs: JobDirs): JobPlacement {
    return {
      joinProcsFiles: dirs.directories.map((dir) => `${dir}/cgroup.procs`),
      cloneIntoDir: undefined,
    };
  }

  readUsage(dirs: JobDirs): Promise<CgroupUsage> {
    return readV1Usage(this.fs, {
      cpuacct: dirs.byController.get("cpuacct"),
      memory: dirs.byController.get("memory"),
    });
  }

  killAll(dirs: JobDirs): Promise<void> {
    return killAllV1(this.fs, {
      freezerDir: dirs.byController.get("freezer"),
      dirs: dirs.directories,
    }, this.#options.kill);
  }
}
