/**
 * The cgroup v1 backend. A job gets one directory `<parent>/<group>/<jobId>` (or
 * `<parent>/<jobId>` without a group) in each mounted hierarchy IJR uses (cpu, cpuacct,
 * memory, blkio, pids, freezer; several controllers may share a hierarchy), and so does its
 * group. Its init joins them by writing "0" to each `tasks` file before exec: the child is a
 * single thread then, so moving that thread moves the whole process, and a `tasks` write of the
 * writer itself takes no writer side of the kernel's `cgroup_threadgroup_rwsem`, which a
 * `cgroup.procs` write does and which waits for an RCU grace period whenever no other join came
 * just before (5-20 ms on this project's VM, inside the spawn; bench/README.md).
 *
 * | limit | file |
 * |---|---|
 * | CPU shares | `cpu.shares` |
 * | memory | `memory.limit_in_bytes`, then `memory.memsw.limit_in_bytes` with the same value (no swap beyond the limit); without swap accounting `memory.swappiness` 0 |
 * | IOPS | `blkio.throttle.read_iops_device`, `blkio.throttle.write_iops_device`: one "MAJ:MIN N" per write |
 * | pids | `pids.max` |
 *
 * The caps on all jobs go on the job parent, a group's caps on the group: `pids.max` in the
 * pids hierarchy and `memory.limit_in_bytes` (+ memsw) in the memory hierarchy, which must be
 * hierarchical (`memory.use_hierarchy` 1) for the jobs' memory to count against it. v1 spells
 * "no memory limit" as -1 ("max" is refused), and keeps memsw >= memory at every write. A
 * group needs nothing else: every v1 controller reaches every cgroup of its hierarchy.
 *
 * Only files inside the job's own directories, its group's and the job parent's are written;
 * the directories above the parent are only created.
 * @module
 */

import { failedPrecondition, IjrError } from "../errors/mod.ts";
import type {
  CapsTarget,
  CgroupBackend,
  CgroupDirs,
  JobPlacement,
  MemoryLimitAt,
} from "./backend.ts";
import { cgroupDirsOf } from "./backend.ts";
import { parseLimitValue } from "./caps.ts";
import type { V1Controller, V1Layout } from "./detect.ts";
import { type CgroupFs, hostCgroupFs, makeCgroupDir, readOptional, writeCgroupFile } from "./fs.ts";
import { killAllV1 } from "./kill.ts";
import type { BackendOptions } from "./options.ts";
import { cgroupDir, isWithin, joinCgroupPath, pathsBetween, resolveParentPath } from "./paths.ts";
import type { ParentPlace } from "./remove.ts";
import type { AllJobsCaps, CgroupUsage, JobLimits } from "./types.ts";
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
  readonly renamesCgroups = true;
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

  /** The place of the hierarchy that carries `controller`. */
  #placeOf(controller: V1Controller): V1Place | undefined {
    return this.places.find((place) => place.controllers.includes(controller));
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

  dirsBelowParent(relative: readonly string[]): CgroupDirs {
    const dirs = new Map<string, string>();
    for (const place of this.places) {
      const dir = relative.length === 0
        ? place.parentDir
        : cgroupDir(place.mountPoint, joinCgroupPath(place.parentPath, relative.join("/")));
      for (const controller of place.controllers) dirs.set(controller, dir);
    }
    return cgroupDirsOf(dirs);
  }

  prepareGroup(): Promise<void> {
    // Every controller of a hierarchy reaches every cgroup in it, and a new memory cgroup
    // inherits use_hierarchy: a group is ready as soon as it exists.
    return Promise.resolve();
  }

  async writeLimits(dirs: CgroupDirs, limits: JobLimits): Promise<void> {
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

  placement(dirs: CgroupDirs): JobPlacement {
    return {
      joinTaskFiles: dirs.directories.map((dir) => `${dir}/tasks`),
      cloneIntoDir: undefined,
    };
  }

  readUsage(dirs: CgroupDirs): Promise<CgroupUsage> {
    return readV1Usage(this.fs, {
      cpuacct: dirs.byController.get("cpuacct"),
      memory: dirs.byController.get("memory"),
    });
  }

  killAll(dirs: CgroupDirs): Promise<void> {
    return killAllV1(this.fs, {
      freezerDir: dirs.byController.get("freezer"),
      dirs: dirs.directories,
    }, this.#options.kill);
  }

  async writeCaps(dirs: CgroupDirs, caps: AllJobsCaps, { on }: CapsTarget): Promise<void> {
    // detect.ts refuses a v1 host without cpu, memory and pids hierarchies.
    const pidsDir = dirs.byController.get("pids")!;
    const memoryDir = dirs.byController.get("memory")!;
    // Checked before anything is written: a refused cap changes nothing.
    if (caps.memoryBytes !== undefined) await this.#requireHierarchical(memoryDir, on);
    await writeCgroupFile(
      this.fs,
      `${pidsDir}/pids.max`,
      caps.pids === undefined ? "max" : String(caps.pids),
    );
    await this.#writeMemoryCap(memoryDir, caps.memoryBytes);
  }

  /**
   * Without use_hierarchy a v1 memory cgroup's limit covers only its own tasks, never its
   * children's: a cap on the job parent or a group would hold nothing. Since Linux 5.11 every
   * memory cgroup is hierarchical (the file reads 1 and refuses 0); where the file is absent
   * there is no other mode either.
   */
  async #requireHierarchical(memoryDir: string, on: string): Promise<void> {
    const file = `${memoryDir}/memory.use_hierarchy`;
    const value = await readOptional(this.fs, file);
    if (value !== undefined && value.trim() !== "1") {
      throw failedPrecondition(
        `${file} is ${value.trim()}: the memory cgroup of the jobs is not hierarchical, so a ` +
          `memory cap on ${on} would not hold; turn use_hierarchy on above IJR's cgroup`,
      );
    }
  }

  async #writeMemoryCap(dir: string, bytes: number | undefined): Promise<void> {
    const limitFile = `${dir}/memory.limit_in_bytes`;
    const memswFile = `${dir}/memory.memsw.limit_in_bytes`;
    // -1 is v1's "no limit"; the kernel refuses "max" here.
    const value = bytes === undefined ? "-1" : String(bytes);
    if (!(await this.fs.exists(memswFile))) {
      await writeCgroupFile(this.fs, limitFile, value);
      return;
    }
    // The kernel refuses any write that would leave memsw below memory: a higher limit
    // goes to memsw first, a lower one to memory first.
    const current = parseLimitValue(await this.fs.readFile(limitFile));
    const raising = bytes === undefined || (current !== undefined && bytes > current);
    const order = raising ? [memswFile, limitFile] : [limitFile, memswFile];
    for (const file of order) await writeCgroupFile(this.fs, file, value);
  }

  async readCaps(dirs: CgroupDirs): Promise<AllJobsCaps> {
    const [pids, memory] = await Promise.all([
      this.fs.readFile(`${dirs.byController.get("pids")}/pids.max`),
      this.fs.readFile(`${dirs.byController.get("memory")}/memory.limit_in_bytes`),
    ]);
    return { pids: parseLimitValue(pids), memoryBytes: parseLimitValue(memory) };
  }

  async memoryLimits(): Promise<MemoryLimitAt[]> {
    const place = this.#placeOf("memory")!;
    const paths = ["/", ...pathsBetween("/", place.parentPath)].reverse();
    const limits: MemoryLimitAt[] = [];
    for (const path of paths) {
      const dir = cgroupDir(place.mountPoint, path);
      // The job parent does not exist before the first job; it has no limit then.
      const text = await readOptional(this.fs, `${dir}/memory.limit_in_bytes`);
      if (text !== undefined) limits.push({ dir, bytes: parseLimitValue(text) });
    }
    return limits;
  }
}
