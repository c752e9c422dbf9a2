/**
 * The ranges of host ids jobs' user namespaces map to (ijrd --userns-pool START:COUNT): each
 * running job gets a range of 65536 ids no other running job has, its uid and gid 0 being
 * the range's start on the host. A range's user namespace is made the first time the range
 * is used (lib/native/userns.ts) and kept for later jobs: a job leaves nothing in it (its
 * processes, files in memory and mounts end with it).
 * @module
 */

import { IjrError } from "../errors/mod.ts";
import { makeUserNamespace, spawnJob } from "../native/mod.ts";

/** Ids in one job's range. */
export const RANGE_SIZE = 65536;

/** One job's range, held until `release`. */
export interface UsernsLease {
  /** The user namespace (a descriptor, kept by the pool). */
  readonly fd: number;
  /** The host uid (and gid) of the job's root: the range's start. */
  readonly hostUid: number;
  readonly hostGid: number;
  /** Gives the range back (idempotent). */
  release(): void;
}

/** A pool of id ranges, [start, start + count), in whole ranges of RANGE_SIZE. */
export class UsernsPool {
  readonly start: number;
  readonly count: number;
  /** Which ranges running jobs hold, by index. */
  readonly #held: Uint8Array;
  #inUse = 0;
  readonly #namespaces = new Map<number, number>();

  constructor(start: number, count: number) {
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < RANGE_SIZE) {
      throw new Error(`a user namespace pool needs at least ${RANGE_SIZE} ids`);
    }
    this.start = start;
    this.count = count - (count % RANGE_SIZE);
    this.#held = new Uint8Array(this.count / RANGE_SIZE);
  }

  /** Ranges in the pool. */
  get size(): number {
    return this.count / RANGE_SIZE;
  }

  /** Ranges held by running jobs. */
  get inUse(): number {
    return this.#inUse;
  }

  /**
   * The lowest free range (a worker's jobs use the same few namespaces again and again);
   * RESOURCE_EXHAUSTED when every one is held by a running job.
   */
  lease(): UsernsLease {
    const slot = this.#held.indexOf(0);
    if (slot < 0) {
      throw new IjrError(
        "RESOURCE_EXHAUSTED",
        `every one of the ${this.size} id ranges of --userns-pool is in use; try again when a ` +
          "job ends",
      );
    }
    const hostUid = this.start + slot * RANGE_SIZE;
    let fd = this.#namespaces.get(slot);
    if (fd === undefined) {
      try {
        fd = makeUserNamespace(hostUid, hostUid);
      } catch (error) {
        throw new IjrError("INTERNAL", (error as Error).message, { cause: error });
      }
      this.#namespaces.set(slot, fd);
    }
    return this.#hold(slot, fd);
  }

  /**
   * Holds the range that starts at `hostUid` for a job that already runs in it: one a
   * restarted ijrd adopted (live restore), so that no new job gets its ids. Undefined when
   * the range is not one of this pool's (the pool changed since the job started) or is held
   * already; the job keeps its namespace either way. The lease has no descriptor (-1): the
   * job has its namespace, and a new job of the range makes the range's namespace again.
   */
  claim(hostUid: number): UsernsLease | undefined {
    const offset = hostUid - this.start;
    if (!Number.isInteger(offset) || offset < 0 || offset % RANGE_SIZE !== 0) return undefined;
    const slot = offset / RANGE_SIZE;
    if (slot >= this.#held.length || this.#held[slot]) return undefined;
    return this.#hold(slot, -1);
  }

  #hold(slot: number, fd: number): UsernsLease {
    const hostUid = this.start + slot * RANGE_SIZE;
    this.#held[slot] = 1;
    this.#inUse++;
    let released = false;
    return {
      fd,
      hostUid,
      hostGid: hostUid,
      release: () => {
        if (released) return;
        released = true;
        this.#held[slot] = 0;
        this.#inUse--;
      },
    };
  }
}

/**
 * Asks the kernel to do what a job's start does with a user namespace from `pool`: an
 * idmapped mount of `lowerDir` under an overlay on `mountPoint`, in a mount namespace of its
 * own (gone when the probe ends). Throws the kernel's reason when it cannot (before Linux
 * 5.19, or a file system without idmapped mounts).
 */
export function probeUserNamespaces(
  pool: UsernsPool,
  paths: { readonly mountPoint: string; readonly lowerDir: string },
): void {
  const lease = pool.lease();
  try {
    spawnJob({
      mountPoint: paths.mountPoint,
      lowerDir: paths.lowerDir,
      scratch: { memoryBytes: 1024 * 1024 },
      hostname: "ijr-probe",
      outputPath: "/dev/null",
      endPath: "/dev/null",
      workdir: "/",
      argv: ["true"],
      env: [],
      cgroupTaskFiles: [],
      userns: lease,
      probeMounts: true,
    });
  } finally {
    lease.release();
  }
}
