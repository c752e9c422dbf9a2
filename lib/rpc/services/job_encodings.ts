/**
 * Responses about jobs assembled from each job's encoding. An ended job never changes (the
 * engine makes a new object for its end and never alters it), so its Job message is encoded
 * once and the bytes are kept against the object (its summary, for lists; its whole status,
 * for GetJob, StopJob and WaitJob), for as long as the engine keeps that object (a WeakMap: a
 * job that is retired or deleted takes its bytes with it). A running job is encoded afresh
 * every time. Encoding 100 jobs cost ijrd about 0.25 ms of every ListJobs call, and encoding
 * one job was the largest share of a GetJob in ijrd's profile (create + toBinary,
 * bench/README.md).
 * @module
 */

import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { JobSchema, ListJobsResponseSchema } from "../../gen/ijr/v1/job_pb.ts";
import type { JobStatus, JobSummary } from "../../job/mod.ts";
import { EncodedResponse } from "../transport/mod.ts";

/** The tag of ListJobsResponse.jobs: field number and wire type, one byte. */
const JOBS_TAG = (ListJobsResponseSchema.field.jobs.number << 3) | WireType.LengthDelimited;

/** How a job's summary or status reads as a Job message (job_service.ts's jobToProto). */
export type JobToProto = (job: JobSummary | JobStatus) => MessageInitShape<typeof JobSchema>;

/** Encodings of ended jobs, by their summary or status object. */
const encodedEnded = new WeakMap<JobSummary | JobStatus, Uint8Array>();

/** One job's Job message in wire format: kept when the job has ended. */
function encodedJob(job: JobSummary | JobStatus, toProto: JobToProto): Uint8Array {
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
  // The answer's size is known before anything is copied: one buffer, written once (a
  // growing BinaryWriter copied 13 KB several times over for 100 jobs, 50 µs a call).
  const encodings = jobs.map((job) => encodedJob(job, toProto));
  let size = 0;
  for (const bytes of encodings) size += 1 + varintSize(bytes.length) + bytes.length;
  const answer = new Uint8Array(size);
  let at = 0;
  for (const bytes of encodings) {
    answer[at++] = JOBS_TAG;
    at = writeVarint(answer, at, bytes.length);
    answer.set(bytes, at);
    at += bytes.length;
  }
  return new EncodedResponse(ListJobsResponseSchema, answer);
}

/** A response whose one field is `Job job` (GetJob, StopJob, WaitJob; StartJob's too). */
type JobResponseSchema = DescMessage & { readonly field: { readonly job: { number: number } } };

/**
 * The response of `schema` carrying `job`, in wire format: byte for byte what encoding
 * `{ job: toProto(job) }` gives (a message field is its tag, its length and its encoding).
 */
export function encodedJobResponse<Desc extends JobResponseSchema>(
  schema: Desc,
  job: JobStatus,
  toProto: JobToProto,
): EncodedResponse<Desc> {
  return encodedJobField(schema, schema.field.job, job, toProto);
}

/**
 * A message of `schema` whose one field set is `field`, a Job, carrying `job`, in wire
 * format (RunJob's last message: `{ ended: toProto(job) }`).
 */
export function encodedJobField<Desc extends DescMessage>(
  schema: Desc,
  field: { readonly number: number },
  job: JobStatus,
  toProto: JobToProto,
): EncodedResponse<Desc> {
  const bytes = encodedJob(job, toProto);
  const tag = (field.number << 3) | WireType.LengthDelimited;
  const answer = new Uint8Array(varintSize(tag) + varintSize(bytes.length) + bytes.length);
  answer.set(bytes, writeVarint(answer, writeVarint(answer, 0, tag), bytes.length));
  return new EncodedResponse(schema, answer);
}

/** How many bytes protobuf's varint encoding of `value` (a length, below 2^31) takes. */
function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value >>>= 7;
    size++;
  }
  return size;
}

/** Writes `value` (below 2^31) as a varint at `at`; returns where the next byte goes. */
function writeVarint(into: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    into[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  into[at++] = value;
  return at;
}
