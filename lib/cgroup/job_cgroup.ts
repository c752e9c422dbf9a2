/**
 * One job's cgroup, the same on v1 and v2: the backend says where its files are and how to
 * read and kill; this keeps the order (usage is read before the directories go, removal is
 * leaf first and retried while the kernel is busy, then the job's group is told) and the
 * last counters once it is removed.
 * @module
 */

import type { CgroupBackend, CgroupDirs } from "./backend.ts";
import { listProcsRecursive } from "./kill.ts";
import { removeCgroupTree, type RemoveOptions } from "./remove.ts";
import type { CgroupUsage, JobCgroup } from "./types.ts";

/** Options of {@link JobCgroupHandle}. */
export interface JobCgroupOptions {
  /** Bounds of remove(). */
  readonly remove?: RemoveOptions;
  /**
   * Called after every remove() that removed the job's directories: the job's group removes
   * itself when this was its last job.
   */
  readonly afterRemove?: () => Promise<void>;
}

/** The cgroup(s) of one job, over a backend. */
export class JobCgroupHandle implements JobCgroup {
  readonly joinTaskFiles: readonly string[];
  readonly cloneIntoDir: string | undefined;
  /** The job's directory in each hierarchy (one on v2), in hierarchy order. */
  readonly directories: readonly string[];
  readonly #backend: CgroupBackend;
  readonly #dirs: CgroupDirs;
  readonly #options: JobCgroupOptions;
  #final: CgroupUsage | undefined;

  constructor(backend: CgroupBackend, dirs: CgroupDirs, options: JobCgroupOptions = {}) {
    this.#backend = backend;
    this.#dirs = dirs;
    this.#options = options;
    this.directories = dirs.directories;
    const placement = backend.placement(dirs);
    this.joinTaskFiles = placement.joinTaskFiles;
    this.cloneIntoDir = placement.cloneIntoDir;
  }

  /** The job's directory that holds `controller`'s files, if that controller is there. */
  dirOf(controller: string): string | undefined {
    return this.#dirs.byController.get(controller);
  }

  usage(): Promise<CgroupUsage> {
    if (this.#final) return Promise.resolve(this.#final);
    return this.#backend.readUsage(this.#dirs);
  }

  async finalUsage(): Promise<CgroupUsage> {
    this.#final ??= await this.#backend.readUsage(this.#dirs);
    return this.#final;
  }

  killAll(): Promise<void> {
    return this.#backend.killAll(this.#dirs);
  }

  async processes(): Promise<number[]> {
    const all = new Set<number>();
    for (const dir of this.directories) {
      for (const pid of await listProcsRecursive(this.#backend.fs, dir)) all.add(pid);
    }
    return [...all].sort((a, b) => a - b);
  }

  async remove(): Promise<void> {
    // The counters vanish with the directories: keep their last values for status reports.
    await this.finalUsage();
    for (const dir of this.directories) {
      await removeCgroupTree(this.#backend.fs, dir, this.#options.remove);
    }
    // Also after a second remove(): a group a failed release left behind goes then.
    await this.#options.afterRemove?.();
  }
}
