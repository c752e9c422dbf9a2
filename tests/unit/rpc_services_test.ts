/**
 * JobService and RootfsService handlers (lib/rpc/job_service.ts, rootfs_service.ts) over
 * fake backends: every field is checked before the backend is asked anything, conversions are
 * exact, and job IDs reach only those who may see them.
 */
import assert from "node:assert/strict";
import { summarize } from "../../lib/job/finished_jobs.ts";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import {
  GetJobRequestSchema,
  JobSchema,
  ListJobsRequestSchema,
  ListJobsResponseSchema,
  ResourceLimitsSchema,
  RunJobResponseSchema,
  StartJobRequestSchema,
  StopJobRequestSchema,
  StreamOutputRequestSchema,
  WaitJobRequestSchema,
  WaitJobResponseSchema,
} from "../../lib/gen/ijr/v1/job_pb.ts";
import {
  DeleteRootfsRequestSchema,
  ListRootfsRequestSchema,
  UploadRootfsMetadataSchema,
  type UploadRootfsRequest,
  UploadRootfsRequestSchema,
} from "../../lib/gen/ijr/v1/rootfs_pb.ts";
import { IjrError, notFound } from "../../lib/errors/mod.ts";
import type { JobStatus, StartJobRequest } from "../../lib/job/types.ts";
import { fromPem } from "../../lib/pki/pem.ts";
import { type CallContext, EncodedResponse } from "../../lib/rpc/transport/mod.ts";
import {
  type JobBackend,
  jobServiceHandlers,
  jobToProto,
  type RootfsBackend,
  rootfsServiceHandlers,
  type RootfsSnapshot,
} from "../../lib/rpc/services/mod.ts";
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
  summary(id: string) {
    const found = this.jobs.get(id);
    return found ? summarize(found) : undefined;
  }
  list() {
    return [...this.jobs.values()].map(summarize);
  }
  delete(id: string) {
    this.calls.push(["delete", id]);
    this.jobs.delete(id);
    return Promise.resolve();
  }
  async *output(id: string, _options: { signal?: AbortSignal; offset: number }) {
    this.calls.push(["output", id]);
    yield new Uint8Array([1]);
  }
  wait(id: string) {
    this.calls.push(["wait", id]);
    return Promise.resolve(this.jobs.get(id)!);
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
        maxOutputBytes: 4096n,
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
      maxOutputBytes: 4096n,
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

Deno.test("JobService: WaitJob checks the ID, then answers only owners and admins", async () => {
  const backend = new FakeJobs();
  const handlers = jobServiceHandlers(backend);
  const alice = await contextOf("alice");
  const wait = (id: string, context: CallContext) =>
    handlers.waitJob(create(WaitJobRequestSchema, { jobId: id }), context);
  await rejectsWith(
    wait("A11CE00000000001", alice),
    "INVALID_ARGUMENT",
    'job_id must be 16 lower-case hex digits, got "A11CE00000000001"',
  );
  for (const id of [BOB_JOB, "0000000000000000"]) {
    await rejectsWith(wait(id, alice), "NOT_FOUND", `job ${id} not found`);
  }
  assert.deepEqual(backend.calls, []);
  const ended = job(ALICE_JOB, "alice", {
    state: "exited",
    exitCode: 7,
    endedAt: new Date(5000),
  });
  backend.jobs.set(ALICE_JOB, ended);
  // The answer is the ended job's kept encoding (job_encodings.ts): its bytes decode to it.
  const answered = async (response: Promise<unknown>) => {
    const encoded = await response;
    assert.ok(encoded instanceof EncodedResponse, "an encoded WaitJobResponse");
    assert.equal(encoded.schema, WaitJobResponseSchema);
    return fromBinary(WaitJobResponseSchema, encoded.bytes);
  };
  const expected = (status: JobStatus) =>
    create(WaitJobResponseSchema, { job: jobToProto(status) });
  assert.deepEqual(await answered(wait(ALICE_JOB, alice)), expected(ended));
  assert.deepEqual(
    await answered(wait(BOB_JOB, await contextOf("admin"))),
    expected(backend.jobs.get(BOB_JOB)!),
  );
  assert.deepEqual(backend.calls, [["wait", ALICE_JOB], ["wait", BOB_JOB]]);
});

Deno.test("JobService: a WaitJob ends with the call or with ijrd, never with the job", async () => {
  const never = new FakeJobs();
  never.wait = (id: string) => {
    never.calls.push(["wait", id]);
    return new Promise<JobStatus>(() => {}); // the job runs on
  };
  const shutdown = new AbortController();
  const handlers = jobServiceHandlers(never, { shutdown: shutdown.signal });
  const call = new AbortController();
  const context = { ...(await contextOf("alice")), signal: call.signal };
  const waiting = handlers.waitJob(create(WaitJobRequestSchema, { jobId: ALICE_JOB }), context);
  call.abort(new IjrError("UNAVAILABLE", "the client went away"));
  await rejectsWith(waiting, "UNAVAILABLE", "the client went away");
  const held = handlers.waitJob(
    create(WaitJobRequestSchema, { jobId: ALICE_JOB }),
    await contextOf("alice"),
  );
  shutdown.abort();
  await rejectsWith(held, "UNAVAILABLE", "ijrd is shutting down");
  assert.deepEqual(never.calls, [["wait", ALICE_JOB], ["wait", ALICE_JOB]]);
});

Deno.test("JobService: ListJobs shows users their own jobs and admins every job", async () => {
  const handlers = jobServiceHandlers(new FakeJobs());
  const listed = async (user: User) => {
    const response = await handlers.listJobs(create(ListJobsRequestSchema), await contextOf(user));
    assert.ok(response instanceof EncodedResponse);
    return fromBinary(ListJobsResponseSchema, response.bytes).jobs.map((j) => [j.id, j.owner]);
  };
  assert.deepEqual(await listed("alice"), [[ALICE_JOB, "alice"]]);
  assert.deepEqual(await listed("bob"), [[BOB_JOB, "bob"]]);
  assert.deepEqual(await listed("admin"), [[ALICE_JOB, "alice"], [BOB_JOB, "bob"]]);
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

/** A rootfs store with one rootfs that jobs of alice, bob and a starting job use. */
class FakeStore implements RootfsBackend {
  readonly calls: unknown[] = [];
  readonly limits = { maxCompressedBytes: 1000 };
  readonly snapshot: RootfsSnapshot = {
    name: "bb",
    sizeBytes: 10,
    entries: 2,
    createdAt: new Date(0),
    runningJobs: [ALICE_JOB, BOB_JOB, "5ea1000000000002"],
  };
  async upload(chunks: AsyncIterable<Uint8Array>, metadata: unknown) {
    this.calls.push(["upload", metadata]);
    let bytes = 0;
    for await (const chunk of chunks) bytes += chunk.length;
    return { rootfs: this.snapshot, compressedBytes: bytes, skippedSpecialFiles: 0 };
  }
  list() {
    return [this.snapshot];
  }
  delete(name: string) {
    this.calls.push(["delete", name]);
    return Promise.resolve();
  }
}

function rootfsHandlers(store: RootfsBackend) {
  const jobs = new FakeJobs();
  return rootfsServiceHandlers(store, { jobOwner: (id) => jobs.get(id)?.owner });
}

Deno.test("RootfsService: users see how many jobs use a rootfs and the IDs of their own", async () => {
  const handlers = rootfsHandlers(new FakeStore());
  const request = create(ListRootfsRequestSchema);
  const seen = async (user: User) => {
    const response = await handlers.listRootfs(request, await contextOf(user));
    assert.ok(!(response instanceof EncodedResponse));
    return response.rootfs!.map((r) => [r.runningJobCount, r.runningJobs]);
  };
  assert.deepEqual(await seen("alice"), [[3, [ALICE_JOB]]]);
  assert.deepEqual(await seen("bob"), [[3, [BOB_JOB]]]);
  // Admins see every job, the one still starting (no owner known yet) included.
  assert.deepEqual(await seen("admin"), [[3, [ALICE_JOB, BOB_JOB, "5ea1000000000002"]]]);
});

async function* messages(...parts: UploadRootfsRequest["part"][]) {
  for (const part of parts) yield create(UploadRootfsRequestSchema, { part });
}

Deno.test("RootfsService: upload metadata is checked before the store sees the upload", async () => {
  const store = new FakeStore();
  const handlers = rootfsHandlers(store);
  const admin = await contextOf("admin");
  const metadata = (value: MessageInitShape<typeof UploadRootfsMetadataSchema>) => ({
    case: "metadata" as const,
    value: create(UploadRootfsMetadataSchema, value),
  });
  const chunk = { case: "chunk" as const, value: new Uint8Array(3) };
  const cases: [UploadRootfsRequest["part"][], string, string][] = [
    [[], "INVALID_ARGUMENT", "an upload must start with a metadata message naming the rootfs"],
    [[chunk], "INVALID_ARGUMENT", "an upload must start with a metadata message naming the rootfs"],
    [
      [metadata({ name: "b@d" })],
      "INVALID_ARGUMENT",
      "invalid rootfs name \"b@d\": it may only contain lower-case letters, digits, '.', '_' " +
      "and '-' (pattern [a-z0-9][a-z0-9._-]{0,62})",
    ],
    [
      [metadata({ name: "bb", size: 2n ** 64n - 1n })],
      "INVALID_ARGUMENT",
      "metadata.size must be from 0 to 9007199254740991, got 18446744073709551615",
    ],
    [
      [metadata({ name: "bb", size: 1001n })],
      "RESOURCE_EXHAUSTED",
      "metadata.size is 1001 bytes; ijrd accepts tarballs of at most 1000",
    ],
    [
      [metadata({ name: "bb", sha256: "ABC" })],
      "INVALID_ARGUMENT",
      'metadata.sha256 must be empty or 64 lower-case hex digits, got "ABC"',
    ],
  ];
  for (const [parts, code, message] of cases) {
    await rejectsWith(handlers.uploadRootfs(messages(...parts), admin), code, message);
  }
  assert.deepEqual(store.calls, []);
  // Out of place messages after the metadata fail the upload the store is reading.
  await rejectsWith(
    handlers.uploadRootfs(messages(metadata({ name: "bb" }), chunk, metadata({})), admin),
    "INVALID_ARGUMENT",
    "request message 3 of the upload carries metadata; only the first one may",
  );
  await rejectsWith(
    handlers.uploadRootfs(messages(metadata({ name: "bb" }), { case: undefined }), admin),
    "INVALID_ARGUMENT",
    "request message 2 of the upload has neither metadata nor chunk",
  );
  const sha256 = "a".repeat(64);
  const done = await handlers.uploadRootfs(
    messages(metadata({ name: "bb", size: 3n, sha256, replace: true }), chunk),
    admin,
  );
  assert.equal(done.compressedBytes, 3n);
  assert.deepEqual(store.calls.at(-1), ["upload", {
    name: "bb",
    size: 3,
    sha256,
    replace: true,
  }]);
});

Deno.test("RootfsService: upload and delete are for admins, checked first", async () => {
  const store = new FakeStore();
  const handlers = rootfsHandlers(store);
  const alice = await contextOf("alice");
  let read = 0;
  async function* counted() {
    read++;
    yield create(UploadRootfsRequestSchema);
  }
  await rejectsWith(
    handlers.uploadRootfs(counted(), alice),
    "PERMISSION_DENIED",
    "rootfs upload needs the admin role; alice is a user",
  );
  assert.equal(read, 0);
  await rejectsWith(
    handlers.deleteRootfs(create(DeleteRootfsRequestSchema, { name: "../x" }), alice),
    "PERMISSION_DENIED",
    "rootfs delete needs the admin role; alice is a user",
  );
  await rejectsWith(
    handlers.deleteRootfs(
      create(DeleteRootfsRequestSchema, { name: "" }),
      await contextOf("admin"),
    ),
    "INVALID_ARGUMENT",
    'invalid rootfs name "": it is empty (pattern [a-z0-9][a-z0-9._-]{0,62})',
  );
  assert.deepEqual(store.calls, []);
});

/** Collects a StreamOutput handler's bytes. */
/** The bytes of StreamOutput's messages (its handler sends no encoded ones). */
async function streamed(stream: AsyncIterable<unknown>): Promise<number[]> {
  const bytes: number[] = [];
  for await (const message of stream) bytes.push(...(message as { data: Uint8Array }).data);
  return bytes;
}

Deno.test("JobService: StreamOutput asks the engine for the output from its offset", async () => {
  const backend = new FakeJobs();
  const asked: unknown[] = [];
  // The engine seeks to the offset (followOutput; tests/unit/output_follow_test.ts holds the
  // bytes and the OUT_OF_RANGE): the service hands it on as a number and passes on what comes.
  backend.output = async function* (id: string, options: { offset: number }) {
    backend.calls.push(["output", id]);
    asked.push(options.offset);
    if (options.offset > 5) {
      throw new IjrError("OUT_OF_RANGE", `offset ${options.offset} is past the end (5 bytes)`);
    }
    yield new Uint8Array([options.offset]);
  };
  const handlers = jobServiceHandlers(backend);
  const alice = await contextOf("alice");
  const from = (offset: bigint) =>
    handlers.streamOutput(create(StreamOutputRequestSchema, { jobId: ALICE_JOB, offset }), alice);
  assert.deepEqual(await streamed(from(0n)), [0]);
  assert.deepEqual(await streamed(from(3n)), [3]);
  await rejectsWith(streamed(from(6n)), "OUT_OF_RANGE", "offset 6 is past the end (5 bytes)");
  assert.deepEqual(asked, [0, 3, 6]);
  // Checked before the job is looked up: no output is read for it.
  const calls = backend.calls.length;
  await rejectsWith(
    streamed(from(2n ** 53n)),
    "INVALID_ARGUMENT",
    "offset must be from 0 to 9007199254740991, got 9007199254740992",
  );
  assert.equal(backend.calls.length, calls);
});

Deno.test("JobService: RunJob asks for the job's end before its first message goes out", async () => {
  const id = "5ea1000000000001";
  const ended = job(id, "alice", { state: "exited", exitCode: 3, endedAt: new Date(1) });
  // An engine whose job ends at once and is gone right after (deleted, or retired by a
  // --retain of a handful): a wait asked for later finds nothing.
  class Vanishing extends FakeJobs {
    override start(request: StartJobRequest) {
      this.calls.push(["start", request.owner]);
      this.jobs.set(id, ended);
      return Promise.resolve(job(id, request.owner));
    }
    override wait(waited: string) {
      this.calls.push(["wait", waited]);
      const found = this.jobs.get(waited);
      return found ? Promise.resolve(found) : Promise.reject(notFound(`job ${waited} not found`));
    }
  }
  const backend = new Vanishing();
  const messages = jobServiceHandlers(backend).runJob(start({}), await contextOf("alice"))[
    Symbol.asyncIterator
  ]();
  const first = await messages.next();
  assert.equal((first.value as { started: { id: string } }).started.id, id);
  assert.deepEqual(backend.calls, [["start", "alice"], ["wait", id]]);
  backend.jobs.delete(id); // while the client reads the first message
  const last = (await messages.next()).value as EncodedResponse<typeof RunJobResponseSchema>;
  const decoded = fromBinary(RunJobResponseSchema, last.bytes);
  assert.deepEqual([decoded.ended?.id, decoded.ended?.exitCode, decoded.started], [
    id,
    3,
    undefined,
  ]);
  assert.equal((await messages.next()).done, true);
});
