/**
 * Responses from kept encodings (lib/rpc/services/job_encodings.ts): ListJobs, GetJob,
 * StopJob and WaitJob answers are exactly the bytes of the whole message encoded at once, an
 * ended job's encoding is made once for its summary or status object, and a running job is
 * encoded afresh each time.
 */
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  GetJobResponseSchema,
  ListJobsResponseSchema,
  StopJobResponseSchema,
  WaitJobResponseSchema,
} from "../../lib/gen/ijr/v1/job_pb.ts";
import { summarize } from "../../lib/job/finished_jobs.ts";
import type { JobStatus, JobSummary } from "../../lib/job/types.ts";
import { encodedJobList, encodedJobResponse } from "../../lib/rpc/services/job_encodings.ts";
import { jobToProto } from "../../lib/rpc/services/mod.ts";

function status(id: string, extra: Partial<JobStatus>): JobStatus {
  return {
    id,
    owner: "alice",
    rootfs: "bb",
    argv: ["sh", "-c", "echo 'héllo wörld'; exit 3"],
    env: ["A=1"],
    workdir: "/tmp",
    limits: {
      cpuShares: 512,
      memoryBytes: 64 << 20,
      readIops: [{ device: "/dev/vda", major: 254, minor: 0, iops: 100 }],
      writeIops: [],
      pids: 64,
    },
    maxOutputBytes: 1 << 20,
    timeoutMs: 90_500,
    state: "running",
    oomKilled: false,
    startedAt: new Date(1_700_000_000_123),
    pid: 4242,
    isolation: {
      userNamespace: { hostUid: 1879048192, hostGid: 1879048192, size: 65536 },
      seccomp: true,
    },
    ...extra,
  };
}

const running = summarize(status("0000000000000001", {}));
const exited = summarize(status("0000000000000002", {
  state: "exited",
  exitCode: 3,
  pid: undefined,
  endedAt: new Date(1_700_000_001_456),
  cpuNanos: 12_345_678n,
  memoryPeakBytes: 1_048_576,
}));
const stopped = summarize(status("0000000000000003", {
  state: "stopped",
  signal: 9,
  pid: undefined,
  endedAt: new Date(1_700_000_002_000),
  message: "timed out after 90500 ms",
  outputLimitExceeded: true,
}));

// Its encoding's length takes three bytes as a varint (the others take one or two).
const longMessage = summarize(status("0000000000000004", {
  state: "failed",
  pid: undefined,
  endedAt: new Date(1_700_000_003_000),
  message: "x".repeat(20_000),
}));

/** What encoding the whole response at once gives. */
const wholeMessage = (jobs: JobSummary[]) =>
  toBinary(ListJobsResponseSchema, create(ListJobsResponseSchema, { jobs: jobs.map(jobToProto) }));

Deno.test("ListJobs from kept encodings: the same bytes as the whole message encoded at once", () => {
  const lists = [[], [running], [exited, running, stopped], [stopped, stopped], [
    longMessage,
    exited,
  ]];
  for (const jobs of lists) {
    const encoded = encodedJobList(jobs, jobToProto);
    assert.equal(encoded.schema, ListJobsResponseSchema);
    assert.deepEqual(encoded.bytes, wholeMessage(jobs));
  }
  const decoded = fromBinary(
    ListJobsResponseSchema,
    encodedJobList([exited, running], jobToProto).bytes,
  );
  assert.deepEqual(decoded.jobs.map((job) => [job.id, job.exitCode, job.pid, job.command]), [
    ["0000000000000002", 3, 0, "sh -c 'echo '\\''héllo wörld'\\''; exit 3'"],
    ["0000000000000001", 0, 4242, "sh -c 'echo '\\''héllo wörld'\\''; exit 3'"],
  ]);
});

Deno.test("ListJobs from kept encodings: a running job is encoded afresh, an ended one once", () => {
  // A running job's summary may change between two lists (here in place): it is never kept.
  const live = { ...running } as { -readonly [K in keyof JobSummary]: JobSummary[K] };
  const first = encodedJobList([live], jobToProto).bytes;
  live.pid = 4343;
  const second = encodedJobList([live], jobToProto).bytes;
  assert.notDeepEqual(second, first);
  assert.deepEqual(second, wholeMessage([live]));
  // An ended job's summary is never changed in place (JobBackend.list's contract), so its
  // first encoding stands for the object: a change made in place anyway does not show.
  const ended = { ...exited } as { -readonly [K in keyof JobSummary]: JobSummary[K] };
  const kept = encodedJobList([ended], jobToProto).bytes;
  ended.exitCode = 4;
  assert.deepEqual(encodedJobList([ended], jobToProto).bytes, kept);
  // A new summary object is a new encoding.
  assert.deepEqual(encodedJobList([{ ...ended }], jobToProto).bytes, wholeMessage([ended]));
});

Deno.test("GetJob, StopJob and WaitJob from kept encodings: the bytes of the whole message", () => {
  const whole = (status: JobStatus) =>
    toBinary(GetJobResponseSchema, create(GetJobResponseSchema, { job: jobToProto(status) }));
  const ended = status("0000000000000005", {
    state: "exited",
    exitCode: 0,
    pid: undefined,
    endedAt: new Date(1_700_000_005_000),
    argv: ["x".repeat(300)], // an encoding whose length takes two bytes as a varint
  });
  const live = status("0000000000000006", {});
  for (const schema of [GetJobResponseSchema, StopJobResponseSchema, WaitJobResponseSchema]) {
    for (const job of [ended, live]) {
      const encoded = encodedJobResponse(schema, job, jobToProto);
      assert.equal(encoded.schema, schema);
      assert.deepEqual(encoded.bytes, whole(job), `${schema.typeName} of ${job.state}`);
    }
  }
  // The ended status's encoding is kept: a change made in place (which the engine never
  // makes) does not show; the running one's does.
  const kept = encodedJobResponse(GetJobResponseSchema, ended, jobToProto).bytes;
  (ended as { exitCode?: number }).exitCode = 9;
  assert.deepEqual(encodedJobResponse(GetJobResponseSchema, ended, jobToProto).bytes, kept);
  (live as { pid?: number }).pid = 777;
  assert.deepEqual(encodedJobResponse(GetJobResponseSchema, live, jobToProto).bytes, whole(live));
  assert.equal(
    fromBinary(
      GetJobResponseSchema,
      encodedJobResponse(GetJobResponseSchema, live, jobToProto).bytes,
    )
      .job?.pid,
    777,
  );
});
