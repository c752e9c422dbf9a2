/**
 * JobService handlers (lib/rpc/job_service.ts) over a fake engine: every field is checked
 * before the engine is asked anything, conversions are exact, and job IDs reach only those
 * who may see them.
 */
import assert from "node:assert/strict";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import {
  GetJobRequestSchema,
  JobSchema,
  ResourceLimitsSchema,
  StartJobRequestSchema,
  StopJobRequestSchema,
  StreamOutputRequestSchema,
} from "../../lib/gen/ijr/v1/job_pb.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import type { JobStatus, StartJobRequest } from "../../lib/job/types.ts";
import { fromPem } from "../../lib/pki/pem.ts";
import {
  type CallContext,
  type JobBackend,
  jobServiceHandlers,
  jobToProto,
} from "../../lib/rpc/mod.ts";
import { testPki } from "../helpers/pki.ts";

type User = "admin" | "alice" | "bob";

async function contextOf(user: User): Promise<CallContext> {
  const pki = await testPki();
  return {
    method: "/test",
    peerCertificate: { raw: fromPem("CERTIFICATE", pki[user].certPem) },
    signal: new AbortController().signal,
  };
}

const ALICE_JOB = "a11ce00000000001";
const BOB_JOB = "b0b0000000000001";

function job(id: string, owner: string, extra: Partial<JobStatus> = {}): JobStatus {
  return {
    id,
    owner,
    rootfs: "bb",
    argv: ["sleep", "60"],
    env: [],
    workdir: "/",
    limits: { cpuShares: 1024, readIops: [], writeIops: [], pids: 1024 },
    state: "running",
    oomKilled: false,
    startedAt: new Date(0),
    ...extra,
  };
}

/** A job engine that records what it was asked. */
class FakeJobs implements JobBackend {
  readonly calls: unknown[] = [];
  readonly jobs = new Map([[ALICE_JOB, job(ALICE_JOB, "alice")], [BOB_JOB, job(BOB_JOB, "bob")]]);
  start(request: StartJobRequest) {
    this.calls.push(["start", request]);
    return Promise.resolve(job("5ea1000000000001", request.owner));
  }
  stop(id: string, options: { graceMs?: number }) {
    this.calls.push(["stop", id, options]);
    return Promise.resolve(this.jobs.get(id)!);
  }
  get(id: string) {
    return this.jobs.get(id);
  }
  list() {
    return [...this.jobs.values()];
  }
  async *output(id: string) {
    this.calls.push(["output", id]);
    yield new Uint8Array([1]);
  }
}

async function rejectsWith(promise: Promise<unknown>, code: string, message: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof IjrError, String(error));
    assert.deepEqual([error.code, error.message], [code, message]);
    return true;
  });
}

const start = (init: Parameters<typeof create<typeof StartJobRequestSchema>>[1]) =>
  create(StartJobRequestSchema, { rootfs: "bb", argv: ["true"], ...init });
const seconds = (s: bigint, nanos = 0) => create(DurationSchema, { seconds: s, nanos });

Deno.test("JobService: StartJob hands the engine exact values, zeros as defaults", async () => {
  const backend = new FakeJobs();
  const handlers = jobServiceHandlers(backend);
  await handlers.startJob(
    start({
      argv: ["sh", "-c", "x"],
      env: ["A=1"],
      workdir: "",
      limits: {
        cpuShares: 0n,
        memoryBytes: 2n ** 30n,
        pids: 0n,
        readIops: [{ device: "/dev/sda", iops: 5n }],
      },
      timeout: seconds(2n, 1),
    }),
    await contextOf("alice"),
  );
  assert.deepEqual(backend.calls, [[
    "start",
    {
      owner: "alice",
      rootfs: "bb",
      argv: ["sh", "-c", "x"],
      env: ["A=1"],
      workdir: undefined,
      limits: {
        cpuShares: undefined,
        memoryBytes: 2n ** 30n,
        readIops: [{ device: "/dev/sda", iops: 5n }],
        writeIops: [],
        pids: undefined,
      },
      timeoutMs: 2001,
    },
  ]]);
});

Deno.test("JobService: StartJob refuses every bad field before the engine sees it", async () => {
  const backend = new FakeJobs();
  const handlers = jobServiceHandlers(backend);
  const alice = await contextOf("alice");
  const limits = (init: MessageInitShape<typeof ResourceLimitsSchema>) => ({ limits: init });
  const cases: [Parameters<typeof start>[0], string][] = [
    [{ rootfs: "" }, 'invalid rootfs name "": it is empty (pattern [a-z0-9][a-z0-9._-]{0,62})'],
    [{ argv: [] }, "argv must not be empty: argv[0] is the command"],
    [{ argv: ["a\0b"] }, "argv[0] contains a NUL byte"],
    [{ env: ["X"] }, 'env[0] must be KEY=VALUE, got "X"'],
    [{ workdir: "tmp" }, 'workdir must be an absolute path, got "tmp"'],
    [limits({ cpuShares: 1n }), "limits.cpu_shares must be from 2 to 262144, got 1"],
    [
      limits({ memoryBytes: 2n ** 64n - 1n }),
      "limits.memory_bytes must be from 4194304 (4m) to 9007199254740991, got 18446744073709551615",
    ],
    [limits({ pids: 2n ** 63n }), "limits.pids must be from 2 to 4194304, got 9223372036854775808"],
    [
      limits({ writeIops: [{ device: "/dev/sda", iops: 0n }] }),
      "limits.write_iops[0].iops must be from 1 to 4294967294, got 0",
    ],
    [
      limits({ readIops: [{ device: "", iops: 1n }] }),
      'limits.read_iops[0].device must be an absolute path, got ""',
    ],
    [
      { timeout: seconds(2n ** 63n - 1n) },
      "timeout must be from 0.001s to 2592000s (30 days), got 9223372036854775807s",
    ],
    [
      { timeout: seconds(0n, 1_000_000_000) },
      "timeout.nanos must be from -999999999 to 999999999, got 1000000000",
    ],
    [{ timeout: seconds(0n) }, "timeout must be from 0.001s to 2592000s (30 days), got 0s"],
  ];
  for (const [init, message] of cases) {
    await rejectsWith(handlers.startJob(start(init), alice), "INVALID_ARGUMENT", message);
  }
  assert.deepEqual(backend.calls, []);
});

Deno.test("JobService: job IDs are checked, then only their owners and admins see them", async () => {
  const backend = new FakeJobs();
  const handlers = jobServiceHandlers(backend);
  const alice = await contextOf("alice");
  const malformed = 'job_id must be 16 lower-case hex digits, got "nope"';
  await rejectsWith(
    handlers.getJob(create(GetJobRequestSchema, { jobId: "nope" }), alice),
    "INVALID_ARGUMENT",
    malformed,
  );
  await rejectsWith(
    handlers.stopJob(create(StopJobRequestSchema, { jobId: "nope" }), alice),
    "INVALID_ARGUMENT",
    malformed,
  );
  await rejectsWith(
    (async () => {
      for await (const _ of handlers.streamOutput(create(StreamOutputRequestSchema), alice)) {
        // nothing is streamed
      }
    })(),
    "INVALID_ARGUMENT",
    'job_id must be 16 lower-case hex digits, got ""',
  );
  // Someone else's job and a missing one answer alike.
  for (const id of [BOB_JOB, "0000000000000000"]) {
    await rejectsWith(
      handlers.getJob(create(GetJobRequestSchema, { jobId: id }), alice),
      "NOT_FOUND",
      `job ${id} not found`,
    );
    await rejectsWith(
      handlers.stopJob(create(StopJobRequestSchema, { jobId: id }), alice),
      "NOT_FOUND",
      `job ${id} not found`,
    );
  }
  // The grace period is checked before the job is looked up.
  await rejectsWith(
    handlers.stopJob(
      create(StopJobRequestSchema, { jobId: BOB_JOB, gracePeriod: seconds(3601n) }),
      alice,
    ),
    "INVALID_ARGUMENT",
    "grace_period must be from 0s to 3600s (1 hour), got 3601s",
  );
  await rejectsWith(
    handlers.stopJob(
      create(StopJobRequestSchema, { jobId: ALICE_JOB, gracePeriod: seconds(-1n) }),
      alice,
    ),
    "INVALID_ARGUMENT",
    "grace_period must be from 0s to 3600s (1 hour), got -1s",
  );
  assert.deepEqual(backend.calls, []);
  await handlers.stopJob(
    create(StopJobRequestSchema, { jobId: ALICE_JOB, gracePeriod: seconds(0n, 1) }),
    alice,
  );
  await handlers.stopJob(
    create(StopJobRequestSchema, { jobId: BOB_JOB }),
    await contextOf("admin"),
  );
  assert.deepEqual(backend.calls, [
    ["stop", ALICE_JOB, { graceMs: 1 }],
    ["stop", BOB_JOB, { graceMs: undefined }],
  ]);
});

Deno.test("JobService: a record with a timeout no Duration can carry still serializes", () => {
  // What the unchecked API of old let in: timeout.seconds = 2^63-1, in milliseconds.
  const legacy = job(ALICE_JOB, "alice", { timeoutMs: 9.223372036854776e21 });
  const message = create(JobSchema, jobToProto(legacy));
  assert.equal(message.timeout, undefined);
  toBinary(JobSchema, message);
  const fine = create(JobSchema, jobToProto(job(ALICE_JOB, "alice", { timeoutMs: 1500 })));
  assert.deepEqual([fine.timeout?.seconds, fine.timeout?.nanos], [1n, 500_000_000]);
});
