/**
 * Resource control: every job gets its own cgroup(s) with its limits written before it
 * starts, the kernel's measurements for status reports, and a clean kill and removal; the
 * job parent carries caps on what all jobs use together, and each owner's group
 * ({@link userGroupName}) caps on what that owner's jobs use together ({@link perUserCaps}).
 * cgroup v1 and v2 sit behind one interface, {@link CgroupController}, picked at start-up by
 * {@link createCgroupController}. What operators need to know (detection, where job cgroups
 * go, what is written, bounds, the caps) is in docs/operations.md, "cgroups".
 * @module
 */

export type {
  AllJobsCaps,
  CgroupController,
  CgroupUsage,
  CreateJobCgroupOptions,
  DeviceIops,
  JobCgroup,
  JobLimits,
  MemoryAvailable,
} from "./types.ts";
export { createCgroupController, type CreateControllerOptions } from "./controller.ts";
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
  resolveJobLimits,
  type ResolveLimitsOptions,
} from "./limits.ts";
export { MAX_CPU_SHARES, MIN_CPU_SHARES } from "./weight.ts";
export { type BlockDevice, resolveBlockDevice } from "./device.ts";
export { type HostTaskLimits, readHostTaskLimits } from "./host.ts";
export { isGroupName, userGroupName } from "./group_name.ts";
export { type JobCounts, MIN_USER_MEMORY_BYTES, MIN_USER_PIDS, perUserCaps } from "./user_caps.ts";
