/**
 * Resource control: every job gets its own cgroup(s) with its limits written before it
 * starts, the kernel's measurements for status reports, and a clean kill and removal.
 * cgroup v1 and v2 sit behind one interface ({@link CgroupController}), picked at start-up.
 *
 * ## Choices operators should know (for docs/operations.md)
 *
 * - **Version detection.** v1 when any v1 hierarchy carries cpu, memory or pids, even when a
 *   cgroup2 is mounted too (systemd "hybrid": `/sys/fs/cgroup/unified` has no controllers);
 *   v2 when only a cgroup2 is mounted.
 * - **Where job cgroups go.** `<own>/ijr/<jobId>` in each hierarchy, `<own>` being ijrd's own
 *   cgroup from /proc/self/cgroup (per hierarchy on v1, which may differ: on a host where
 *   the memory cgroup is `/a/b` and the others are `/`, the jobs are
 *   `memory/a/b/ijr/<id>` and `cpu/ijr/<id>`). `--cgroup-parent` (option `parent`) replaces
 *   `<own>/ijr`: relative values are taken below `<own>`, absolute ones from the hierarchy
 *   root. The parent must belong to IJR alone: at start-up every job-named cgroup in it that
 *   is not a known running job is killed and removed. The root cgroup and ijrd's own cgroup
 *   are refused as parents.
 * - **Never written:** any file of a hierarchy root, any cgroup IJR did not create, except
 *   on v2 ijrd's own `cgroup.subtree_control` (to delegate controllers to its jobs).
 * - **v2 delegation.** Enabling controllers below a cgroup requires it to hold no processes,
 *   so on first use ijrd moves the processes of its own cgroup into `<own>/ijr-daemon`, like
 *   runc/crun/systemd do. Controllers the parent does not delegate are unavailable; a job
 *   asking for a limit that needs one fails with FAILED_PRECONDITION.
 * - **Defaults and bounds.** CPU shares default 1024, range 2..262144 (v2 cpu.weight by
 *   runc/crun's formula: 2->1, 512->59, 1024->100, 2048->174, 262144->10000). Memory is
 *   unlimited unless given; the minimum is **4 MiB** (`4m`): bash running `ls` peaks at
 *   about 1.2 MiB on the development host, and the job's init plus the kernel memory charged
 *   per task come on top; smaller values can only be mistakes that would end as a job the OOM
 *   killer kills while it starts. Swap is never allowed beyond
 *   the memory limit (v1 memsw = limit, v2 memory.swap.max = 0). The pids limit defaults to
 *   **1024** tasks (processes plus threads; the daemon's `--pids` changes it), range
 *   2..4194304. IOPS 1..4294967294 per disk; a partition is limited on its whole disk.
 * - **Kill.** v2 `cgroup.kill`; v1 freeze, SIGKILL every task, thaw, until empty (at most
 *   10 s). **Removal** retries EBUSY for up to 5 s.
 * @module
 */

import { type CgroupLayout, detectHostCgroupLayout } from "./detect.ts";
import type { BackendOptions } from "./options.ts";
import { CgroupV1Controller } from "./v1.ts";
import { CgroupV2Controller } from "./v2.ts";

export type { CgroupController, CgroupUsage, DeviceIops, JobCgroup, JobLimits } from "./types.ts";
export {
  type CgroupLayout,
  DAEMON_LEAF,
  detectCgroupLayout,
  detectHostCgroupLayout,
  type DetectInput,
  parseMountinfo,
  parseProcCgroup,
  type V1Hierarchy,
  type V1Layout,
  type V2Layout,
} from "./detect.ts";
export {
  DEFAULT_CPU_SHARES,
  DEFAULT_PIDS,
  type DeviceIopsRequest,
  type JobLimitsRequest,
  type LimitDefaults,
  MAX_IOPS,
  MAX_PIDS,
  MIN_MEMORY_BYTES,
  MIN_PIDS,
  parseCpuShares,
  parseDeviceIopsSpec,
  parseMemoryLimit,
  parsePidsLimit,
  resolveJobLimits,
  type ResolveLimitsOptions,
  validateCpuShares,
  validateIops,
  validateMemoryBytes,
  validatePids,
} from "./limits.ts";
export { type BlockDevice, resolveBlockDevice } from "./device.ts";
export { cpuSharesToWeight, MAX_CPU_SHARES, MIN_CPU_SHARES } from "./weight.ts";
export { type CgroupFs, hostCgroupFs } from "./fs.ts";
export type { BackendOptions } from "./options.ts";
export { CgroupV1Controller, V1JobCgroup } from "./v1.ts";
export { CgroupV2Controller, ioMaxLines, V2JobCgroup } from "./v2.ts";
export { DEFAULT_PARENT, JOB_ID_PATTERN, validateJobId } from "./paths.ts";

/** Options of {@link createCgroupController}. */
export interface CreateControllerOptions extends BackendOptions {
  /** The layout to use; detected from /proc/self when omitted. */
  readonly layout?: CgroupLayout;
}

/** Either backend: a {@link CgroupController} plus removeEmptyParents() for shutdown. */
export type IjrCgroupController = CgroupV1Controller | CgroupV2Controller;

/**
 * Detects the host's cgroup layout (unless given) and returns the matching backend.
 * FAILED_PRECONDITION when no usable cgroup file system is mounted.
 */
export async function createCgroupController(
  options: CreateControllerOptions = {},
): Promise<IjrCgroupController> {
  const layout = options.layout ?? await detectHostCgroupLayout();
  return layout.version === 1
    ? new CgroupV1Controller(layout, options)
    : new CgroupV2Controller(layout, options);
}
