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
