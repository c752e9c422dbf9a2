/**
 * The job engine: isolated jobs in uploaded root file systems, their lifecycle, records
 * and output.
 * @module
 */

export { JobManager, type JobManagerOptions } from "./job_manager.ts";
export { DEFAULT_SCRATCH } from "./types.ts";
export type { JobScratch, JobState, JobStatus, StartJobRequest } from "./types.ts";
export { followOutput, type FollowOutputOptions } from "./output_reader.ts";
export { isJobId, newJobId } from "./job_id.ts";
export {
  MAX_ARG_STRING_BYTES,
  MAX_ARGV_ENTRIES,
  MAX_ARGV_ENV_BYTES,
  MAX_ENV_ENTRIES,
  MAX_GRACE_MS,
  MAX_IOPS_DEVICES,
  MAX_PATH_BYTES,
  MAX_TIMEOUT_MS,
  type StartValidationOptions,
  validateStartFields,
  validateStartRequest,
} from "./start_request.ts";
export { probeUserNamespaces, RANGE_SIZE, UsernsPool } from "./userns_pool.ts";
export { type JobSummary } from "./types.ts";
