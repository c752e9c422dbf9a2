/**
 * The users' groups: one cgroup per job owner between the job parent and the owner's jobs
 * (`<parent>/<group>/<jobId>`, names from group_name.ts), carrying caps on what all of that
 * owner's jobs use together, as systemd's `user-UID.slice` does for a user's sessions.
 *
 * - A group is made for its owner's first job: directories (one per v1 hierarchy), then its
 *   controllers passed on (v2), then its caps, and only then the job's cgroup inside it.
 * - It is removed when its last job's cgroup is: no empty group stays behind. Where job cgroups
 *   are made ahead (cgroup v1 with `lingerMs` set, spares.ts), a group holds one spare for its
 *   owner's next job, made in the background after each start, and stays `lingerMs` after its
 *   last job went, so that a user who starts jobs one after another finds group and spare in
 *   place; then it goes with its spares. Shutdown (releaseAll) removes lingering groups at once.
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
import { GroupSpares, isSpareName } from "./spares.ts";
import type { AllJobsCaps } from "./types.ts";

const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** What the caps of a group cap, for messages. */
export function groupCapsScope(group: string): string {
  return `all jobs of ${group}`;
}

/** Options of {@link UserGroups}. */
export interface UserGroupsOptions {
  /** Bounds of the removals. */
  readonly remove?: RemoveOptions;
  /**
   * How long a group without jobs stays, holding its spare, in ms; 0 (the default) or a
   * backend that cannot rename cgroups: no spares, and a group goes with its last job.
   */
  readonly lingerMs?: number;
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
  /** The spares; also without {@link #makesSpares}, to remove those an earlier run left. */
  readonly #spares: GroupSpares;
  readonly #makesSpares: boolean;
  readonly #lingerMs: number;
  /** Groups this run made or found and has not removed since: where a spare may be made. */
  readonly #present = new Set<string>();
  /** The timer of each group without jobs, which removes it when it goes off. */
  readonly #lingering = new Map<string, ReturnType<typeof setTimeout>>();
  /** The last spare check queued for a group (they run one after another). */
  readonly #refills = new Map<string, Promise<void>>();

  constructor(backend: CgroupBackend, options: UserGroupsOptions = {}) {
    this.#backend = backend;
    this.#removeOptions = options.remove;
    this.#lingerMs = options.lingerMs ?? 0;
    this.#makesSpares = backend.renamesCgroups && this.#lingerMs > 0;
    this.#spares = new GroupSpares(
      backend.fs,
      (relative) => backend.dirsBelowParent(relative),
      options.remove,
    );
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
   * Runs `section` (which makes the cgroup of job `jobId` in `group`) with the group in place,
   * all under the group's lock: a spare of the group is renamed to `jobId` (then `section` is
   * told its cgroup is in place, and writes only the limits), or else the group is made with
   * its caps when missing and `section` makes the job's directories. When `section` fails, a
   * group it leaves without jobs is released again. A new spare is made afterwards, off the
   * caller's path: once `refillAfter` settles (default: the next turn).
   */
  within<T>(
    group: string,
    available: ReadonlySet<string>,
    jobId: string,
    section: (inPlace: boolean) => Promise<T>,
    refillAfter?: Promise<unknown>,
  ): Promise<T> {
    return this.#lock.run(group, async () => {
      this.#stopLingering(group);
      try {
        const inPlace = this.#makesSpares && await this.#spares.claim(group, jobId);
        if (inPlace) this.#present.add(group);
        else await this.#make(group, available);
        return await section(inPlace);
      } catch (error) {
        await this.#releaseLocked(group).catch(() => {});
        throw error;
      } finally {
        this.#refillSoon(group, refillAfter);
      }
    });
  }

  /** After one of `group`'s jobs was removed: a group left without jobs goes, or lingers. */
  release(group: string): Promise<void> {
    return this.#lock.run(group, () => this.#releaseLocked(group));
  }

  /**
   * Removes every spare, and every group without jobs, lingering ones included (at shutdown,
   * or when the job parent is to be removed): a group whose jobs outlive ijrd keeps only them.
   * A later create makes what it needs again.
   */
  async releaseAll(): Promise<void> {
    await Promise.all(this.#refills.values());
    for (const group of this.#lingering.keys()) this.#stopLingering(group);
    for (const group of await this.list()) {
      await this.#lock.run(group, async () => {
        const names = await listChildCgroups(this.#backend.fs, this.dirsOf(group).directories);
        await this.#spares.remove(group, names.filter(isSpareName));
        await this.#removeIfNoJobs(group);
      });
    }
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
        if (isSpareName(name)) {
          // An earlier run's spare goes the way a stale job does (killed, should anything be
          // in it, then removed), but it was no job; this run's spares stay.
          if (!this.#spares.isOwn(group, name)) await removeJob(name);
          continue;
        }
        if (keep.has(name) || !JOB_ID_PATTERN.test(name)) continue;
        if (await removeJob(name)) removed.push(name);
      }
      if (!(await this.#removeIfNoJobs(group))) this.#present.add(group);
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
        // Nearly always there (a start that found no spare, in a group this run has): a look
        // costs a quarter of a mkdir that fails, for which Deno builds an error.
        if (this.#present.has(group) && await this.#backend.fs.exists(dir)) continue;
        if (await makeCgroupDir(this.#backend.fs, dir)) made = true;
      }
      // A group that was there is ready: it was readied and capped when it was made, and
      // capGroup / capEveryGroup have kept its caps since.
      if (made) {
        await this.#backend.prepareGroup(dirs, available);
        await this.#backend.writeCaps(dirs, this.capsOf(group), {
          available,
          on: groupCapsScope(group),
        });
      }
      this.#present.add(group);
    } catch (error) {
      // A group whose caps are not in force must not take jobs.
      await this.#removeIfNoJobs(group).catch(() => {});
      throw error;
    }
  }

  /** The child cgroups of `group` that are jobs (not spares). */
  async #jobsIn(group: string): Promise<string[]> {
    const names = await listChildCgroups(this.#backend.fs, this.dirsOf(group).directories);
    return names.filter((name) => !isSpareName(name));
  }

  /**
   * Whether `group` holds a job cgroup (caller locks). A job's removal asks each time, and a
   * group's directories hold dozens of control files each, which a listing reads: at 4 starts
   * at once the six listings were the largest share of the removal on ijrd's thread. So the
   * count of child cgroups comes first: a hierarchy where the group has more of them than this
   * run's spares in it holds a job (or something else that is no spare of this run, which
   * keeps the group as a job does, until shutdown's releaseAll). Only otherwise is it listed.
   */
  async #holdsJob(group: string): Promise<boolean> {
    const spares = this.#spares.count(group);
    for (const dir of this.dirsOf(group).directories) {
      try {
        if (await this.#backend.fs.childCount(dir) > spares) return true;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    return (await this.#jobsIn(group)).length > 0;
  }

  /**
   * After a job of `group` went or failed to be made (caller locks): a group left without
   * jobs lingers with its spare where spares are made, and goes now elsewhere.
   */
  async #releaseLocked(group: string): Promise<void> {
    if (!this.#makesSpares || !this.#present.has(group)) {
      await this.#removeIfNoJobs(group);
      return;
    }
    if (await this.#holdsJob(group)) return;
    this.#stopLingering(group);
    const timer = setTimeout(() => {
      if (this.#lingering.get(group) === timer) this.#lingering.delete(group);
      // A failed removal is tried again by the group's next release or at shutdown.
      this.#lock.run(group, () => this.#removeIfNoJobs(group)).catch(() => {});
    }, this.#lingerMs);
    // A lingering group never keeps the process alive.
    Deno.unrefTimer(timer);
    this.#lingering.set(group, timer);
  }

  #stopLingering(group: string): void {
    const timer = this.#lingering.get(group);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#lingering.delete(group);
  }

  /**
   * Makes a spare for `group`'s next job, once `after` settles (default: after the current
   * turn) and under the group's lock. Each call queues a check after the one pending, so a
   * spare claimed while a check waited is still made again; a check that finds a spare does
   * nothing.
   */
  #refillSoon(group: string, after?: Promise<unknown>): void {
    if (!this.#makesSpares) return;
    const refill = (this.#refills.get(group) ?? Promise.resolve())
      .then(() => after?.catch(() => {}) ?? nextTurn())
      .then(() =>
        this.#lock.run(group, async () => {
          // Not in a group removed meanwhile, and one spare is enough for the next job.
          if (this.#present.has(group) && this.#spares.count(group) === 0) {
            await this.#spares.make(group);
          }
        })
      )
      // A spare saves time, nothing more: without one the next job makes its cgroup itself.
      .catch(() => {})
      .finally(() => {
        if (this.#refills.get(group) === refill) this.#refills.delete(group);
      });
    this.#refills.set(group, refill);
  }

  /**
   * Removes `group`, with its spares, when no job cgroup is left in it (caller locks). A spare
   * is no job: a group holding only spares is empty. Resolves to false when jobs kept it.
   */
  async #removeIfNoJobs(group: string): Promise<boolean> {
    this.#stopLingering(group);
    const names = await listChildCgroups(this.#backend.fs, this.dirsOf(group).directories);
    if (names.some((name) => !isSpareName(name))) return false;
    await this.#spares.remove(group, names);
    for (const dir of this.dirsOf(group).directories) {
      await removeCgroupDir(this.#backend.fs, dir, this.#removeOptions);
    }
    this.#present.delete(group);
    return true;
  }
}
