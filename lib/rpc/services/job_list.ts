/**
 * ListJobs responses assembled from each job's encoding. An ended job never changes, so its
 * Job message is encoded once and the bytes are kept against its summary object, for as long
 * as the engine keeps that object (a WeakMap: a job that is retired or deleted takes its
 * bytes with it). A running job is encoded afresh for every list. Encoding 100 jobs cost
 * ijrd about 0.25 ms of every ListJobs call (create + toBinary, bench/README.md).
 * @module
 */

import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { JobSchema, ListJobsResponseSchema } from "../../gen/ijr/v1/job_pb.ts";
import type { JobSummary } from "../../job/mod.ts";
import { EncodedResponse } from "../transport/mod.ts";

const JOBS_FIELD = ListJobsResponseSchema.field.jobs.number;

/** How a job summary reads as a Job message (job_service.ts's jobToProto). */
export type JobToProto = (job: JobSummary) => MessageInitShape<typeof JobSchema>;

/** Encodings of ended jobs, by their summary object. */
const encodedEnded = new WeakMap<JobSummary, Uint8Array>();

/** One job's Job message in wire format: kept when the job has ended. */
function encodedJob(job: JobSummary, toProto: JobToProto): Uint8Array {
  const encode = () => toBinary(JobSchema, create(JobSchema, toProto(job)));
  if (job.state === "running") return encode();
  let bytes = encodedEnded.get(job);
  if (bytes === undefined) {
    bytes = encode();
    encodedEnded.set(job, bytes);
  }
  return bytes;
}

/**
 * The ListJobsResponse for `jobs`, in wire format: byte for byte what encoding the whole
 * message would give (a repeated message field is its elements' encodings in a row).
 */
export function encodedJobList(
  jobs: readonly JobSummary[],
  toProto: JobToProto,
): EncodedResponse<typeof ListJobsResponseSchema> {
  const writer = new BinaryWriter();
  for (const job of jobs) {
    writer.tag(JOBS_FIELD, WireType.LengthDelimited).bytes(encodedJob(job, toProto));
  }
  return new EncodedResponse(ListJobsResponseSchema, writer.finish());
}
