/**
 * The users' groups: one cgroup per job owner between the job parent and the owner's jobs
 * (`<parent>/<group>/<jobId>`, names from group_name.ts), carrying caps on what all of that
 * owner's jobs use together, as systemd's `user-UID.slice` does for a user's sessions.
 *
 * - A group is made for its owner's first job: directories (one per v1 hierarchy), then its
 *   controllers passed on (v2), then its caps, and only then the job's cgroup inside it.
 * - It is removed when its last job's cgroup is: no empty group stays behind.
 * - Everything on one group happens one at a time (keyed_lock.ts): a job created while the
 *   group's last job is being removed either finds the group still there, or a new one made
 *   with its caps; never a group that vanishes under it, nor one without caps.
 * - Caps: a group's own (capGroup), else the caps of every group (capEveryGroup), else none.
 *   They are remembered, so a group made again gets the same caps.
 * @module
 */

import type { CgroupBackend, CgroupDirs } from "./backend.ts";
import { listChildCgroups, makeCgroupDir } from "./fs.ts";
import { isGroupName } from "./group_name.ts";
import { KeyedLock } from "./keyed_lock.ts";
import { JOB_ID_PATTERN } from "./paths.ts";
import { removeCgroupDir, type RemoveOptions } from "./remove.ts";
import type { AllJobsCaps } from "./types.ts";

/** What the caps of a group cap, for messages. */
export function groupCapsScope(group: string): string {
  return `all jobs of ${group}`;
}

/** The users' groups below one job parent, over a backend. */
export class UserGroups {
  readonly #backend: CgroupBackend;
  readonly #removeOptions: RemoveOptions | undefined;
  readonly #lock = new KeyedLock();
  /** Caps given to one group (capGroup), kept for when it is made again. */
  readonly #own = new Map<string, AllJobsCaps>();
  /** Caps of every group without caps of its own (capEveryGroup). */
  #every: AllJobsCaps = {};

  constructor(backend: CgroupBackend, removeOptions?: RemoveOptions) {
    this.#backend = backend;
    this.#removeOptions = removeOptions;
  }

  /** The directories of `group` (they need not exist). */
  dirsOf(group: string): CgroupDirs {
    return this.#backend.dirsBelowParent([group]);
  }

  /** The caps `group` gets when it is made. */
  capsOf(group: string): AllJobsCaps {
    return this.#own.get(group) ?? this.#every;
  }

  /** The groups below the job parent (in any hierarchy), sorted. */
  async list(): Promise<string[]> {
    const names = await listChildCgroups(
      this.#backend.fs,
      this.#backend.dirsBelowParent([]).directories,
    );
    return names.filter(isGroupName);
  }

  /**
   * Runs `section` (which makes a job's cgroup in `group`) with the group in place: made with
   * its caps when missing, all under the group's lock. When `section` fails, a group it
   * leaves without jobs is removed again.
   */
  within<T>(
    group: string,
    available: ReadonlySet<string>,
    section: () => Promise<T>,
  ): Promise<T> {
    return this.#lock.run(group, async () => {
      await this.#make(group, available);
      try {
        return await section();
      } catch (error) {
        await this.#removeIfEmpty(group).catch(() => {});
        throw error;
      }
    });
  }

  /** Removes `group` if no job cgroup is left in it (after one of its jobs was removed). */
  release(group: string): Promise<void> {
    return this.#lock.run(group, () => this.#removeIfEmpty(group));
  }

  /**
   * Kills and removes the jobs of `group` not in `keep` (`removeJob` does one and says whether
   * there was anything to remove), then the group if that emptied it. Resolves to the IDs of
   * the jobs removed.
   */
  removeStale(
    group: string,
    keep: ReadonlySet<string>,
    removeJob: (jobId: string) => Promise<boolean>,
  ): Promise<string[]> {
    return this.#lock.run(group, async () => {
      const removed: string[] = [];
      const names = await listChildCgroups(this.#backend.fs, this.dirsOf(group).directories);
      for (const name of names) {
        if (keep.has(name) || !JOB_ID_PATTERN.test(name)) continue;
        if (await removeJob(name)) removed.push(name);
      }
      await this.#removeIfEmpty(group);
      return removed;
    });
  }

  /**
   * Gives `group` caps of its own (validated by the caller): written now when the group
   * exists, and whenever it is made again.
   */
  cap(group: string, caps: AllJobsCaps, available: ReadonlySet<string>): Promise<void> {
    return this.#lock.run(group, async () => {
      this.#own.set(group, caps);
      await this.#writeIfPresent(group, caps, available);
    });
  }

  /**
   * Sets the caps of every group without caps of its own (validated by the caller): written
   * now on each such group that exists, and on each one made from now on.
   */
  async capEvery(caps: AllJobsCaps, available: ReadonlySet<string>): Promise<void> {
    // Set first: a group made while the existing ones are being written gets these too.
    this.#every = caps;
    for (const group of await this.list()) {
      await this.#lock.run(group, async () => {
        if (!this.#own.has(group)) await this.#writeIfPresent(group, caps, available);
      });
    }
  }

  /** The caps in force on `group` as the kernel keeps them; undefined when it does not exist. */
  read(group: string): Promise<AllJobsCaps | undefined> {
    return this.#lock.run(group, async () => {
      const dirs = this.dirsOf(group);
      if (!(await this.#allExist(dirs))) return undefined;
      return await this.#backend.readCaps(dirs);
    });
  }

  async #allExist(dirs: CgroupDirs): Promise<boolean> {
    for (const dir of dirs.directories) if (!(await this.#backend.fs.exists(dir))) return false;
    return true;
  }

  async #writeIfPresent(
    group: string,
    caps: AllJobsCaps,
    available: ReadonlySet<string>,
  ): Promise<void> {
    const dirs = this.dirsOf(group);
    // A group that is not (wholly) there gets its caps when its next job makes it.
    if (!(await this.#allExist(dirs))) return;
    await this.#backend.writeCaps(dirs, caps, { available, on: groupCapsScope(group) });
  }

  /** Makes the group's missing directories; a group made now is readied and capped. */
  async #make(group: string, available: ReadonlySet<string>): Promise<void> {
    const dirs = this.dirsOf(group);
    let made = false;
    try {
      for (const dir of dirs.directories) {
        if (await makeCgroupDir(this.#backend.fs, dir)) made = true;
      }
      // A group that was there is ready: it was readied and capped when it was made, and
      // capGroup / capEveryGroup have kept its caps since.
      if (!made) return;
      await this.#backend.prepareGroup(dirs, available);
      await this.#backend.writeCaps(dirs, this.capsOf(group), {
        available,
        on: groupCapsScope(group),
      });
    } catch (error) {
      // A group whose caps are not in force must not take jobs.
      await this.#removeIfEmpty(group).catch(() => {});
      throw error;
    }
  }

  /** Removes the group's directories when none of them has a child cgroup (caller locks). */
  async #removeIfEmpty(group: string): Promise<void> {
    const dirs = this.dirsOf(group).directories;
    if ((await listChildCgroups(this.#backend.fs, dirs)).length > 0) return;
    for (const dir of dirs) await removeCgroupDir(this.#backend.fs, dir, this.#removeOptions);
  }
}
