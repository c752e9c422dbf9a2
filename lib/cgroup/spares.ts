/**
 * Job cgroups made ahead (cgroup v1): a spare is a job cgroup that has no job yet,
 * `<parent>/<group>/spare-<12 hex>` in every hierarchy, made in the background after a job of
 * that group starts, and renamed to the next job's ID when that job starts. On v1 a job's
 * cgroup is six directories, and each mkdir allocates a memory cgroup with its per-CPU
 * counters; a rename within the same parent (which cgroupfs v1 allows, and cgroup2 refuses
 * outright) takes the kernel microseconds, so the start path keeps only the limit writes.
 * A spare is never written to before it is claimed: its limits are the claiming job's, written
 * after the rename, and no task has ever been in it, so its counters start at zero.
 *
 * Names: `spare-` and 12 lower-case hex digits, which no job ID may take (paths.ts) and no
 * group name has, so a spare is never mistaken for a job by the stale-cgroup sweep nor for a
 * group. Spares of an earlier run (a crash) are found by name and removed by that sweep.
 * @module
 */

import { IjrError } from "../errors/mod.ts";
import type { CgroupDirs } from "./backend.ts";
import { type CgroupFs, makeCgroupDir } from "./fs.ts";
import { removeCgroupTree, type RemoveOptions } from "./remove.ts";

/** What a spare's name looks like. */
const SPARE_NAME_PATTERN = /^spare-[0-9a-f]{12}$/;

/** True for the name of a spare (a job cgroup made ahead). */
export function isSpareName(name: string): boolean {
  return SPARE_NAME_PATTERN.test(name);
}

/** A new spare's name: random, so a spare of an earlier run is never taken for one of this. */
function newSpareName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `spare-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * The spares of every group, made and claimed by the caller under the group's lock
 * (groups.ts): this keeps which spares exist and does the file work.
 */
export class GroupSpares {
  readonly #fs: CgroupFs;
  readonly #dirsBelowParent: (relative: readonly string[]) => CgroupDirs;
  readonly #removeOptions: RemoveOptions | undefined;
  /** Per group, the spares this run made that are still there. */
  readonly #byGroup = new Map<string, string[]>();

  constructor(
    fs: CgroupFs,
    dirsBelowParent: (relative: readonly string[]) => CgroupDirs,
    removeOptions?: RemoveOptions,
  ) {
    this.#fs = fs;
    this.#dirsBelowParent = dirsBelowParent;
    this.#removeOptions = removeOptions;
  }

  /** How many spares `group` has. */
  count(group: string): number {
    return this.#byGroup.get(group)?.length ?? 0;
  }

  /** True when `name` is a spare this run made in `group`. */
  isOwn(group: string, name: string): boolean {
    return this.#byGroup.get(group)?.includes(name) ?? false;
  }

  /**
   * Makes one spare in `group`, whose directories exist. On failure nothing of it is left
   * and the error is thrown.
   */
  async make(group: string): Promise<void> {
    const name = newSpareName();
    const made: string[] = [];
    try {
      for (const dir of this.#dirsBelowParent([group, name]).directories) {
        if (!(await makeCgroupDir(this.#fs, dir))) {
          throw new IjrError("INTERNAL", `spare cgroup ${dir} already exists`);
        }
        made.push(dir);
      }
    } catch (error) {
      await this.#removeDirs(made);
      throw error;
    }
    const spares = this.#byGroup.get(group) ?? [];
    spares.push(name);
    this.#byGroup.set(group, spares);
  }

  /**
   * Renames a spare of `group` to `jobId` in every hierarchy. Resolves to true when the job's
   * cgroup is in place, false when the group had no spare or its spare was gone (removed
   * behind IJR's back, or with its group): then nothing of that spare is left, and the caller
   * makes the job's cgroup (and its group) the slow way. ALREADY_EXISTS when `jobId`'s
   * cgroup is there; the spare stays.
   */
  async claim(group: string, jobId: string): Promise<boolean> {
    const spares = this.#byGroup.get(group);
    const name = spares?.pop();
    if (name === undefined) return false;
    if (spares!.length === 0) this.#byGroup.delete(group); // a group's entry lives with a spare
    const from = this.#dirsBelowParent([group, name]).directories;
    const to = this.#dirsBelowParent([group, jobId]).directories;
    for (let index = 0; index < from.length; index++) {
      try {
        await this.#fs.rename(from[index], to[index]);
      } catch (error) {
        // Back as it was, so that the spare is whole again (or wholly removed below).
        for (let done = index - 1; done >= 0; done--) {
          await this.#fs.rename(to[done], from[done]).catch(() => {});
        }
        if (error instanceof Deno.errors.AlreadyExists) {
          this.#byGroup.get(group)?.push(name) ?? this.#byGroup.set(group, [name]);
          throw new IjrError(
            "ALREADY_EXISTS",
            `cgroup ${to[index]} of job ${jobId} already exists`,
          );
        }
        // A spare that cannot be renamed is of no use: what is left of it goes.
        await this.#removeDirs(from);
        return false;
      }
    }
    return true;
  }

  /** Removes `names`, spares of `group` (this run's or an earlier one's), and forgets them. */
  async remove(group: string, names: readonly string[]): Promise<void> {
    for (const name of names) {
      await this.#removeDirs(this.#dirsBelowParent([group, name]).directories, true);
      const left = (this.#byGroup.get(group) ?? []).filter((spare) => spare !== name);
      if (left.length > 0) this.#byGroup.set(group, left);
      else this.#byGroup.delete(group);
    }
  }

  /** Removes each of `dirs` (a missing one is fine); quietly, unless `strict`. */
  async #removeDirs(dirs: readonly string[], strict = false): Promise<void> {
    for (const dir of [...dirs].reverse()) {
      const removal = removeCgroupTree(this.#fs, dir, this.#removeOptions);
      if (strict) await removal;
      else await removal.catch(() => {});
    }
  }
}
