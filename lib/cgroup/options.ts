/**
 * Options both cgroup backends take.
 * @module
 */

import type { CgroupFs } from "./fs.ts";
import type { KillOptions } from "./kill.ts";
import type { RemoveOptions } from "./remove.ts";

/** Options shared by both backends. */
export interface BackendOptions {
  /** Job parent: relative to the daemon's own cgroup (default "ijr") or absolute. */
  readonly parent?: string;
  /** File operations; the host's cgroup file system unless a test gives a double. */
  readonly fs?: CgroupFs;
  /** Bounds of killAll(). */
  readonly kill?: KillOptions;
  /** Bounds of remove(). */
  readonly remove?: RemoveOptions;
  /**
   * How long a user's group stays after its last job's cgroup went, in ms, holding a job
   * cgroup made ahead for that user's next job (spares.ts). Only where the kernel renames
   * cgroups (v1); cgroup2 removes a group with its last job whatever this says. Default 0:
   * no spares, and a group goes with its last job.
   */
  readonly groupLingerMs?: number;
}
