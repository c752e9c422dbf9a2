/**
 * The cgroup v2 backend. A job gets `<parent>/<group>/<jobId>` (or `<parent>/<jobId>` without
 * a group) in the unified hierarchy and is cloned straight into it (CLONE_INTO_CGROUP), so it
 * never runs outside its limits.
 *
 * Controllers must be enabled in `cgroup.subtree_control` of every cgroup above the job, and
 * the kernel refuses that for a cgroup that holds processes ("no internal processes"; the
 * root is exempt). So, like runc, crun and systemd delegation: when the daemon's own cgroup
 * must enable controllers and holds processes (the daemon), those move into a leaf
 * `<own>/ijr-daemon` first. The root's files are never written: what the root has not
 * enabled is simply unavailable. A cgroup other than our own that holds processes is never
 * emptied; that is an error naming it. A group holds no processes, only job cgroups, so it
 * enables the jobs' controllers in its own `cgroup.subtree_control` as soon as it is made.
 *
 * | limit | file |
 * |---|---|
 * | CPU shares | `cpu.weight` (converted, see weight.ts) |
 * | memory | `memory.max`, and `memory.swap.max` 0 when swap accounting exists |
 * | IOPS | `io.max`: one "MAJ:MIN riops=N wiops=M" line per disk |
 * | pids | `pids.max` |
 *
 * The caps on all jobs go on the job parent, a group's caps on the group: `pids.max`,
 * `memory.max` and, when swap is accounted, `memory.swap.max` 0 (or all "max" when there is
 * no cap). Their files exist because prepare() enabled the controllers in the cgroups above
 * the parent and in the parent (for its groups).
 * @module
 */

import { failedPrecondition, IjrError } from "../errors/mod.ts";
import {
  type CapsTarget,
  type CgroupBackend,
  type CgroupDirs,
  cgroupDirsOf,
  type JobPlacement,
  type MemoryLimitAt,
} from "./backend.ts";
import { parseLimitValue } from "./caps.ts";
import { DAEMON_LEAF, type V2Layout } from "./detect.ts";
import {
  type CgroupFs,
  hostCgroupFs,
  makeCgroupDir,
  parsePids,
  readOptional,
  writeCgroupFile,
} from "./fs.ts";
import { killAllV2 } from "./kill.ts";
import { DEFAULT_CPU_SHARES } from "./limits.ts";
import type { BackendOptions } from "./options.ts";
import { cgroupDir, isWithin, joinCgroupPath, pathsBetween, resolveParentPath } from "./paths.ts";
import type { ParentPlace } from "./remove.ts";
import type { AllJobsCaps, CgroupUsage, JobLimits } from "./types.ts";
import { readV2Usage } from "./usage.ts";
import { cpuSharesToWeight } from "./weight.ts";

/** The v2 controllers IJR enables for its jobs, in the order they are written. */
export const V2_CONTROLLERS = ["cpu", "memory", "io", "pids"] as const;
/** A v2 controller IJR uses. */
export type V2Controller = typeof V2_CONTROLLERS[number];

/** Parses `cgroup.controllers` / `cgroup.subtree_control` ("cpu io memory pids"). */
export function parseControllerList(text: string): Set<string> {
  return new Set(text.split(/\s+/).filter((name) => name !== ""));
}

/** How many rounds the daemon's processes get to move into the leaf (new ones may appear). */
const MOVE_ROUNDS = 10;

/** Throws FAILED_PRECONDITION for the first needed controller that is not available. */
function requireControllers(
  needs: readonly [needed: boolean, controller: string, what: string][],
  { available, parentDir }: { available: ReadonlySet<string>; parentDir: string },
): void {
  for (const [needed, controller, what] of needs) {
    if (needed && !available.has(controller)) {
      throw failedPrecondition(
        `${what} needs the cgroup v2 ${controller} controller, which is not delegated to ` +
          `${parentDir}`,
      );
    }
  }
}

/** The cgroup v2 operations. */
export class V2Backend implements CgroupBackend {
  readonly version = 2 as const;
  readonly renamesCgroups = false;
  readonly fs: CgroupFs;
  readonly places: readonly ParentPlace[];
  readonly #layout: V2Layout;
  readonly #options: BackendOptions;
  readonly #parentPath: string;
  /** The job parent's directory. */
  readonly #parentDir: string;

  constructor(layout: V2Layout, options: BackendOptions = {}) {
    this.fs = options.fs ?? hostCgroupFs;
    this.#layout = layout;
    this.#options = options;
    this.#parentPath = resolveParentPath(layout.ownPath, options.parent);
    this.#parentDir = this.#dir(this.#parentPath);
    this.places = [{
      mountPoint: layout.mountPoint,
      ownPath: layout.ownPath,
      parentPath: this.#parentPath,
    }];
  }

  #dir(path: string): string {
    return cgroupDir(this.#layout.mountPoint, path);
  }

  /** Creates the job parent and enables the controllers down the path to it. */
  async prepare(): Promise<ReadonlySet<string>> {
    const ownPath = this.#layout.ownPath;
    // Below our own cgroup we start there; an absolute parent elsewhere is the operator's
    // delegation, walked from the root (whose files are still never written).
    const anchor = isWithin(this.#parentPath, ownPath) ? ownPath : "/";
    const anchorDir = this.#dir(anchor);
    let available = new Set<string>(
      [...parseControllerList(await this.fs.readFile(`${anchorDir}/cgroup.controllers`))]
        .filter((name) => (V2_CONTROLLERS as readonly string[]).includes(name)),
    );
    for (const path of [anchor, ...pathsBetween(anchor, this.#parentPath)]) {
      const dir = this.#dir(path);
      if (path !== anchor) {
        await makeCgroupDir(this.fs, dir);
        const offered = parseControllerList(await this.fs.readFile(`${dir}/cgroup.controllers`));
        available = new Set([...available].filter((name) => offered.has(name)));
      }
      const enabled = parseControllerList(await this.fs.readFile(`${dir}/cgroup.subtree_control`));
      const missing = V2_CONTROLLERS.filter((name) => available.has(name) && !enabled.has(name));
      if (missing.length > 0 && path !== "/") {
        await this.#emptyForControllers(path);
        await writeCgroupFile(
          this.fs,
          `${dir}/cgroup.subtree_control`,
          missing.map((name) => `+${name}`).join(" "),
        );
      } else if (missing.length > 0) {
        // The root's files are never written: what it does not pass down is unavailable.
        available = new Set([...available].filter((name) => enabled.has(name)));
      }
    }
    return available;
  }

  /** Makes cgroup `path` free of processes so controllers can be enabled below it. */
  async #emptyForControllers(path: string): Promise<void> {
    const dir = this.#dir(path);
    const procs = parsePids(await this.fs.readFile(`${dir}/cgroup.procs`));
    if (procs.length === 0) return;
    if (path !== this.#layout.ownPath) {
      throw failedPrecondition(
        `cgroup ${dir} holds processes (${procs.join(", ")}), so controllers cannot be ` +
          `enabled below it; give IJR a cgroup parent of its own`,
      );
    }
    const leaf = `${dir}/${DAEMON_LEAF}`;
    await makeCgroupDir(this.fs, leaf);
    for (let round = 0; round < MOVE_ROUNDS; round++) {
      const pids = parsePids(await this.fs.readFile(`${dir}/cgroup.procs`));
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          await this.fs.writeFile(`${leaf}/cgroup.procs`, String(pid));
        } catch (error) {
          // ESRCH: it exited meanwhile; anything else is a real failure.
          if (
            !(error instanceof Deno.errors.NotFound) &&
            (error as { code?: string }).code !== "ESRCH"
          ) {
            throw new IjrError(
              "INTERNAL",
              `cannot move process ${pid} into ${leaf}: ${(error as Error).message}`,
              { cause: error },
            );
          }
        }
      }
    }
    throw failedPrecondition(`processes keep appearing in ${dir}; cannot empty it into ${leaf}`);
  }

  checkLimits(limits: JobLimits, available: ReadonlySet<string>): void {
    requireControllers([
      [limits.cpuShares !== DEFAULT_CPU_SHARES, "cpu", "a CPU share"],
      [limits.memoryBytes !== undefined, "memory", "a memory limit"],
      [limits.readIops.length + limits.writeIops.length > 0, "io", "IOPS limits"],
      [true, "pids", "a pids limit"],
    ], { available, parentDir: this.#parentDir });
  }

  dirsBelowParent(relative: readonly string[]): CgroupDirs {
    const dir = relative.length === 0
      ? this.#parentDir
      : this.#dir(joinCgroupPath(this.#parentPath, relative.join("/")));
    return cgroupDirsOf(new Map(V2_CONTROLLERS.map((controller) => [controller, dir])));
  }

  async prepareGroup(dirs: CgroupDirs, available: ReadonlySet<string>): Promise<void> {
    const [dir] = dirs.directories;
    // A new group is given what the job parent enables (its cgroup.controllers); it holds
    // no processes, so the kernel lets it pass them on to its jobs.
    const enabled = parseControllerList(await this.fs.readFile(`${dir}/cgroup.subtree_control`));
    const missing = V2_CONTROLLERS.filter((name) => available.has(name) && !enabled.has(name));
    if (missing.length === 0) return;
    await writeCgroupFile(
      this.fs,
      `${dir}/cgroup.subtree_control`,
      missing.map((name) => `+${name}`).join(" "),
    );
  }

  async writeLimits(
    dirs: CgroupDirs,
    limits: JobLimits,
    available: ReadonlySet<string>,
  ): Promise<void> {
    const fs = this.fs;
    const [dir] = dirs.directories;
    if (available.has("cpu")) {
      await writeCgroupFile(fs, `${dir}/cpu.weight`, String(cpuSharesToWeight(limits.cpuShares)));
    }
    if (limits.memoryBytes !== undefined) {
      await writeCgroupFile(fs, `${dir}/memory.max`, String(limits.memoryBytes));
      // memory.swap.max exists only with swap accounting; without it there is no swap to limit.
      if (await fs.exists(`${dir}/memory.swap.max`)) {
        await writeCgroupFile(fs, `${dir}/memory.swap.max`, "0");
      }
    }
    for (const line of ioMaxLines(limits)) await writeCgroupFile(fs, `${dir}/io.max`, line);
    await writeCgroupFile(fs, `${dir}/pids.max`, String(limits.pids));
  }

  placement(dirs: CgroupDirs): JobPlacement {
    return { joinTaskFiles: [], cloneIntoDir: dirs.directories[0] };
  }

  readUsage(dirs: CgroupDirs): Promise<CgroupUsage> {
    return readV2Usage(this.fs, dirs.directories[0]);
  }

  killAll(dirs: CgroupDirs): Promise<void> {
    return killAllV2(this.fs, dirs.directories[0], this.#options.kill);
  }

  async writeCaps(
    dirs: CgroupDirs,
    caps: AllJobsCaps,
    { available, on }: CapsTarget,
  ): Promise<void> {
    const [dir] = dirs.directories;
    requireControllers([
      [caps.pids !== undefined, "pids", `a pids cap on ${on}`],
      [caps.memoryBytes !== undefined, "memory", `a memory cap on ${on}`],
    ], { available, parentDir: this.#parentDir });
    // Without the controller there is no file, and nothing to lift either.
    if (available.has("pids")) {
      await writeCgroupFile(
        this.fs,
        `${dir}/pids.max`,
        caps.pids === undefined ? "max" : String(caps.pids),
      );
    }
    if (!available.has("memory")) return;
    const capped = caps.memoryBytes !== undefined;
    await writeCgroupFile(this.fs, `${dir}/memory.max`, capped ? String(caps.memoryBytes) : "max");
    // As for a job: no swap beyond the cap, where swap is accounted at all.
    if (await this.fs.exists(`${dir}/memory.swap.max`)) {
      await writeCgroupFile(this.fs, `${dir}/memory.swap.max`, capped ? "0" : "max");
    }
  }

  async readCaps(dirs: CgroupDirs): Promise<AllJobsCaps> {
    const [dir] = dirs.directories;
    const [pids, memory] = await Promise.all([
      readOptional(this.fs, `${dir}/pids.max`),
      readOptional(this.fs, `${dir}/memory.max`),
    ]);
    return {
      pids: pids === undefined ? undefined : parseLimitValue(pids),
      memoryBytes: memory === undefined ? undefined : parseLimitValue(memory),
    };
  }

  async memoryLimits(): Promise<MemoryLimitAt[]> {
    const paths = ["/", ...pathsBetween("/", this.#parentPath)].reverse();
    const limits: MemoryLimitAt[] = [];
    for (const path of paths) {
      const dir = this.#dir(path);
      // The root has no memory.max, nor has a cgroup whose parent does not enable memory.
      const text = await readOptional(this.fs, `${dir}/memory.max`);
      if (text !== undefined) limits.push({ dir, bytes: parseLimitValue(text) });
    }
    return limits;
  }
}

/** The `io.max` lines of a job: one per disk, read and write limits combined. */
export function ioMaxLines(limits: Pick<JobLimits, "readIops" | "writeIops">): string[] {
  const byDisk = new Map<string, { riops?: number; wiops?: number }>();
  for (const limit of limits.readIops) {
    const key = `${limit.major}:${limit.minor}`;
    byDisk.set(key, { ...byDisk.get(key), riops: limit.iops });
  }
  for (const limit of limits.writeIops) {
    const key = `${limit.major}:${limit.minor}`;
    byDisk.set(key, { ...byDisk.get(key), wiops: limit.iops });
  }
  return [...byDisk].map(([disk, { riops, wiops }]) =>
    [disk, riops === undefined ? "" : `riops=${riops}`, wiops === undefined ? "" : `wiops=${wiops}`]
      .filter((part) => part !== "").join(" ")
  );
}
