/**
 * The contract between the job engine and the root file system store: a job holds a lease
 * on its rootfs for as long as it runs, and a rootfs with leases cannot be deleted or
 * replaced. Acquiring and deleting are serialized, so a job can never start on a
 * half-deleted tree.
 * @module
 */

/** A running job's hold on a root file system. */
export interface RootfsLease {
  /** The rootfs name. */
  readonly name: string;
  /** Absolute path of the extracted tree: the overlay's read-only lower directory. */
  readonly path: string;
  /** Gives the lease back; idempotent. */
  release(): void;
}

/** What the engine needs from the store. */
export interface RootfsProvider {
  /** Leases a rootfs for a job; throws IjrError NOT_FOUND when there is no such rootfs. */
  acquire(name: string, jobId: string): RootfsLease;
}
