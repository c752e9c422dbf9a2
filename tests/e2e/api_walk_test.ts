/**
 * The API walk: every RPC of JobService and RootfsService against the real ijrd, with values
 * out of range, malformed values and raw bytes that do not decode as the request message,
 * sent by a raw grpc-js client. Each call must end with its exact status code and a message
 * naming the field; INTERNAL would be a bug in ijrd. Afterwards the daemon still serves (a
 * job starts, runs, reports its status and output; a 30-day timeout does not fire at once),
 * refused starts left no job, job folder or cgroup, and no request log line says INTERNAL.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  GetJobRequestSchema,
  JobService,
  JobState,
  StartJobRequestSchema,
  StopJobRequestSchema,
  StreamOutputRequestSchema,
  WaitJobRequestSchema,
} from "../../lib/gen/ijr/v1/job_pb.ts";
import {
  DeleteRootfsRequestSchema,
  UploadRootfsMetadataSchema,
  UploadRootfsRequestSchema,
} from "../../lib/gen/ijr/v1/rootfs_pb.ts";
import { createClient } from "../../lib/rpc/client/mod.ts";
import { tlsOf } from "../helpers/grpc_server.ts";
import { cleanupDaemon, jobCgroupsLeft, startDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { testPki } from "../helpers/pki.ts";
import { RawClient, type RawClient as RawClientType } from "../helpers/raw_client.ts";
import { rootTest } from "../helpers/root.ts";
import { waitFor } from "../helpers/wait.ts";

type User = "admin" | "alice" | "bob";

/** One call of the walk and the status it must end with. */
interface Case {
  readonly user?: User;
  /** "Service/Method" in package ijr.v1. */
  readonly method: string;
  /** The request's bytes; a list of messages for the client-streaming UploadRootfs. */
  readonly send: Uint8Array | Uint8Array[];
  readonly code: string;
  /** The exact status message, or a pattern where it carries a size. */
  readonly details: string | RegExp;
}

const bin = <Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>) =>
  toBinary(schema, create(schema, init));
const startJob = (init: MessageInitShape<typeof StartJobRequestSchema>) =>
  bin(StartJobRequestSchema, { rootfs: "bb", argv: ["true"], ...init });
const metadata = (init: MessageInitShape<typeof UploadRootfsMetadataSchema>) =>
  bin(UploadRootfsRequestSchema, {
    part: { case: "metadata", value: create(UploadRootfsMetadataSchema, init) },
  });
const chunk = (bytes: Uint8Array) =>
  bin(UploadRootfsRequestSchema, { part: { case: "chunk", value: bytes } });
const bytes = (...values: number[]) => new Uint8Array(values);

const MAX_U64 = 2n ** 64n - 1n;
const MAX_I64 = 2n ** 63n - 1n;
const MISSING = "0000000000000000";
const NAME_PATTERN = "(pattern [a-z0-9][a-z0-9._-]{0,62})";
const OVERSIZED = /^request message of \d+ bytes; the most accepted is 4194304$/;

/** A block device of this host and its disk number, for the IOPS cases. */
function someBlockDevice(): { path: string; disk: string } {
  for (const entry of Deno.readDirSync("/sys/block")) {
    const path = `/dev/${entry.name}`;
    try {
      if (!Deno.statSync(path).isBlockDevice) continue;
    } catch {
      continue;
    }
    return { path, disk: Deno.readTextFileSync(`/sys/block/${entry.name}/dev`).trim() };
  }
  throw new Error("no block device on this host");
}

function walkCases(bobJob: string): Case[] {
  const cases = jobAndRootfsCases(bobJob);
  // RunJob takes StartJob's request and refuses it the same way, word for word.
  const runJob = cases.filter((c) => c.method === "JobService/StartJob")
    .map((c) => ({ ...c, method: "JobService/RunJob" }));
  return [...cases, ...runJob];
}

function jobAndRootfsCases(bobJob: string): Case[] {
  const device = someBlockDevice();
  const start = (init: MessageInitShape<typeof StartJobRequestSchema>, details: string) => ({
    method: "JobService/StartJob",
    send: startJob(init),
    code: "INVALID_ARGUMENT",
    details,
  });
  const timeout = "timeout must be from 0.001s to 2592000s (30 days), got";
  const grace = "grace_period must be from 0s to 3600s (1 hour), got";
  const badId = (id: string) =>
    `job_id must be 16 lower-case hex digits, got ${JSON.stringify(id)}`;
  return [
    // StartJob: bytes that are not a StartJobRequest.
    {
      method: "JobService/StartJob",
      send: bytes(0x0a, 0x05, 0x61),
      code: "INVALID_ARGUMENT",
      details: "request is not a valid ijr.v1.StartJobRequest: premature EOF",
    },
    {
      method: "JobService/StartJob",
      send: bytes(...Array(11).fill(0xff)),
      code: "INVALID_ARGUMENT",
      details: "request is not a valid ijr.v1.StartJobRequest: invalid varint",
    },
    {
      // argv = ["\xc3("]: not UTF-8.
      method: "JobService/StartJob",
      send: bytes(0x12, 0x02, 0xc3, 0x28),
      code: "INVALID_ARGUMENT",
      details: "request is not a valid ijr.v1.StartJobRequest: The encoded data is not valid",
    },
    // StartJob: every field.
    start({ rootfs: "" }, `invalid rootfs name "": it is empty ${NAME_PATTERN}`),
    start(
      { rootfs: "../etc" },
      `invalid rootfs name "../etc": it must start with a lower-case letter or a digit ${NAME_PATTERN}`,
    ),
    start({ argv: [] }, "argv must not be empty: argv[0] is the command"),
    start({ argv: ["", "x"] }, 'argv[0] must name a command, got ""'),
    start({ argv: ["echo", "a\0b"] }, "argv[1] contains a NUL byte"),
    // The attacker's requests: a 3 MB argv (one string, then many), a 1.9 MB env, 200,001
    // argv entries.
    start(
      { argv: ["echo", "x".repeat(3_000_000)] },
      "argv[1] is 3000000 bytes long; at most 131071 are allowed",
    ),
    start(
      { argv: ["echo", ...Array(30).fill("a".repeat(100_000))] },
      "argv and env are 3000035 bytes (each string with its NUL); at most 1048576 are allowed",
    ),
    start(
      { env: Array(19).fill(`X=${"b".repeat(99_998)}`) },
      "argv and env are 1900024 bytes (each string with its NUL); at most 1048576 are allowed",
    ),
    start(
      { argv: Array(200_001).fill("x") },
      "argv has 200001 entries; at most 4096 are allowed",
    ),
    start({ env: Array(4097).fill("A=1") }, "env has 4097 entries; at most 4096 are allowed"),
    start({ env: ["A=1", "NOEQUALS"] }, 'env[1] must be KEY=VALUE, got "NOEQUALS"'),
    start({ env: ["=x"] }, 'env[0] must be KEY=VALUE with a non-empty KEY, got "=x"'),
    start({ env: ["A=\0"] }, "env[0] contains a NUL byte"),
    start({ workdir: "tmp" }, 'workdir must be an absolute path, got "tmp"'),
    start({ workdir: "/a\0" }, "workdir contains a NUL byte"),
    start(
      { workdir: `/${"w".repeat(5000)}` },
      "workdir is 5001 bytes long; at most 4095 are allowed",
    ),
    start({ limits: { cpuShares: 1n } }, "limits.cpu_shares must be from 2 to 262144, got 1"),
    start(
      { limits: { cpuShares: MAX_U64 } },
      `limits.cpu_shares must be from 2 to 262144, got ${MAX_U64}`,
    ),
    start(
      { limits: { memoryBytes: 100n } },
      "limits.memory_bytes must be from 4194304 (4m) to 9007199254740991, got 100",
    ),
    start(
      { limits: { memoryBytes: 2n ** 53n + 1n } },
      "limits.memory_bytes must be from 4194304 (4m) to 9007199254740991, got 9007199254740993",
    ),
    start({ limits: { pids: 1n } }, "limits.pids must be from 2 to 4194304, got 1"),
    start({ limits: { pids: MAX_U64 } }, `limits.pids must be from 2 to 4194304, got ${MAX_U64}`),
    start(
      { limits: { readIops: [{ device: "", iops: 1n }] } },
      'limits.read_iops[0].device must be an absolute path, got ""',
    ),
    start(
      { limits: { writeIops: [{ device: device.path, iops: 0n }] } },
      "limits.write_iops[0].iops must be from 1 to 4294967294, got 0",
    ),
    start(
      { limits: { writeIops: [{ device: device.path, iops: MAX_U64 }] } },
      `limits.write_iops[0].iops must be from 1 to 4294967294, got ${MAX_U64}`,
    ),
    start(
      { limits: { readIops: Array(65).fill({ device: device.path, iops: 1n }) } },
      "limits.read_iops has 65 entries; at most 64 are allowed",
    ),
    start(
      { limits: { readIops: [{ device: "/dev/ijr-no-such-disk", iops: 1n }] } },
      "limits.read_iops[0].device: device /dev/ijr-no-such-disk does not exist",
    ),
    start(
      { limits: { readIops: [{ device: "/dev/null", iops: 1n }] } },
      "limits.read_iops[0].device: device /dev/null is not a block device (it is a character " +
        "device)",
    ),
    start(
      {
        limits: {
          writeIops: [{ device: device.path, iops: 1n }, { device: device.path, iops: 2n }],
        },
      },
      `limits.write_iops[1].device ${device.path} is on disk ${device.disk}, which ` +
        `limits.write_iops[0].device (${device.path}) already limits`,
    ),
    start({ timeout: { seconds: MAX_I64 } }, `${timeout} ${MAX_I64}s`),
    start({ timeout: { seconds: -MAX_I64 - 1n } }, `${timeout} -9223372036854775808s`),
    start({ timeout: { seconds: 0n } }, `${timeout} 0s`),
    start({ timeout: { seconds: 2_592_000n, nanos: 1 } }, `${timeout} 2592000.000000001s`),
    start(
      { timeout: { seconds: 1n, nanos: 1_000_000_000 } },
      "timeout.nanos must be from -999999999 to 999999999, got 1000000000",
    ),
    start(
      { timeout: { seconds: 1n, nanos: -1 } },
      "timeout.seconds and timeout.nanos must not have opposite signs, got 1 and -1",
    ),
    // Valid requests the engine refuses; still nothing is left of them.
    {
      method: "JobService/StartJob",
      send: startJob({ rootfs: "nope" }),
      code: "NOT_FOUND",
      details: 'no rootfs named "nope"',
    },
    {
      method: "JobService/StartJob",
      send: startJob({ argv: ["/bin/nosuch"] }),
      code: "FAILED_PRECONDITION",
      details: "command not found in rootfs: /bin/nosuch: no such file or directory",
    },
    {
      method: "JobService/StartJob",
      send: startJob({ argv: ["echo", "x".repeat(5 * 1024 * 1024)] }),
      code: "RESOURCE_EXHAUSTED",
      details: OVERSIZED,
    },

    // StopJob.
    {
      method: "JobService/StopJob",
      send: bytes(0x0a),
      code: "INVALID_ARGUMENT",
      details: "request is not a valid ijr.v1.StopJobRequest: premature EOF",
    },
    {
      method: "JobService/StopJob",
      send: bin(StopJobRequestSchema, { jobId: "" }),
      code: "INVALID_ARGUMENT",
      details: badId(""),
    },
    {
      method: "JobService/StopJob",
      send: bin(StopJobRequestSchema, { jobId: "../../etc" }),
      code: "INVALID_ARGUMENT",
      details: badId("../../etc"),
    },
    {
      method: "JobService/StopJob",
      send: bin(StopJobRequestSchema, { jobId: MISSING }),
      code: "NOT_FOUND",
      details: `job ${MISSING} not found`,
    },
    {
      method: "JobService/StopJob",
      send: bin(StopJobRequestSchema, { jobId: bobJob }),
      code: "NOT_FOUND",
      details: `job ${bobJob} not found`,
    },
    {
      method: "JobService/StopJob",
      send: bin(StopJobRequestSchema, { jobId: bobJob, gracePeriod: { seconds: MAX_I64 } }),
      code: "INVALID_ARGUMENT",
      details: `${grace} ${MAX_I64}s`,
    },
    {
      method: "JobService/StopJob",
      send: bin(StopJobRequestSchema, { jobId: bobJob, gracePeriod: { seconds: -1n } }),
      code: "INVALID_ARGUMENT",
      details: `${grace} -1s`,
    },
    {
      method: "JobService/StopJob",
      send: bin(StopJobRequestSchema, {
        jobId: bobJob,
        gracePeriod: { nanos: -1_000_000_000 },
      }),
      code: "INVALID_ARGUMENT",
      details: "grace_period.nanos must be from -999999999 to 999999999, got -1000000000",
    },

    // GetJob.
    {
      method: "JobService/GetJob",
      send: bytes(0x07),
      code: "INVALID_ARGUMENT",
      details: "request is not a valid ijr.v1.GetJobRequest: illegal tag: field no 0 wire type 7",
    },
    {
      method: "JobService/GetJob",
      send: bin(GetJobRequestSchema, { jobId: "0123456789ABCDEF" }),
      code: "INVALID_ARGUMENT",
      details: badId("0123456789ABCDEF"),
    },
    {
      method: "JobService/GetJob",
      send: bin(GetJobRequestSchema, { jobId: "a".repeat(100_000) }),
      code: "INVALID_ARGUMENT",
      details: `job_id must be 16 lower-case hex digits, got "${"a".repeat(40)}..."`,
    },
    {
      method: "JobService/GetJob",
      send: bin(GetJobRequestSchema, { jobId: MISSING }),
      code: "NOT_FOUND",
      details: `job ${MISSING} not found`,
    },
    {
      method: "JobService/GetJob",
      send: bin(GetJobRequestSchema, { jobId: bobJob }),
      code: "NOT_FOUND",
      details: `job ${bobJob} not found`,
    },

    // ListJobs: include_finished is a bool, any value of which is valid.
    {
      method: "JobService/ListJobs",
      send: bytes(0x07),
      code: "INVALID_ARGUMENT",
      details: "request is not a valid ijr.v1.ListJobsRequest: illegal tag: field no 0 wire type 7",
    },
    {
      method: "JobService/ListJobs",
      send: bytes(0x08, 0xff, 0x01),
      code: "OK",
      details: "",
    },

    // StreamOutput.
    {
      method: "JobService/StreamOutput",
      send: bytes(0x0a, 0x05, 0x61),
      code: "INVALID_ARGUMENT",
      details: "request is not a valid ijr.v1.StreamOutputRequest: premature EOF",
    },
    {
      method: "JobService/StreamOutput",
      send: bin(StreamOutputRequestSchema, { jobId: "x" }),
      code: "INVALID_ARGUMENT",
      details: badId("x"),
    },
    {
      method: "JobService/StreamOutput",
      send: bin(StreamOutputRequestSchema, { jobId: bobJob }),
      code: "NOT_FOUND",
      details: `job ${bobJob} not found`,
    },

    // WaitJob: answered at once for every refusal (the job never ends in the walk).
    {
      method: "JobService/WaitJob",
      send: bytes(0x0a, 0x05, 0x61),
      code: "INVALID_ARGUMENT",
      details: "request is not a valid ijr.v1.WaitJobRequest: premature EOF",
    },
    {
      method: "JobService/WaitJob",
      send: bin(WaitJobRequestSchema, { jobId: "x" }),
      code: "INVALID_ARGUMENT",
      details: badId("x"),
    },
    {
      method: "JobService/WaitJob",
      send: bin(WaitJobRequestSchema, { jobId: MISSING }),
      code: "NOT_FOUND",
      details: `job ${MISSING} not found`,
    },
    {
      method: "JobService/WaitJob",
      send: bin(WaitJobRequestSchema, { jobId: bobJob }),
      code: "NOT_FOUND",
      details: `job ${bobJob} not found`,
    },

    // UploadRootfs (admins only): messages that do not decode, metadata fields, order.
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [bytes(0xff, 0xff)],
      code: "INVALID_ARGUMENT",
      details: "request message 1 is not a valid ijr.v1.UploadRootfsRequest: premature EOF",
    },
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [metadata({ name: "walk" }), bytes(0x12, 0x05, 0x1f)],
      code: "INVALID_ARGUMENT",
      details: "request message 2 is not a valid ijr.v1.UploadRootfsRequest: premature EOF",
    },
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [],
      code: "INVALID_ARGUMENT",
      details: "an upload must start with a metadata message naming the rootfs",
    },
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [chunk(bytes(0x1f, 0x8b))],
      code: "INVALID_ARGUMENT",
      details: "an upload must start with a metadata message naming the rootfs",
    },
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [metadata({ name: "" })],
      code: "INVALID_ARGUMENT",
      details: `invalid rootfs name "": it is empty ${NAME_PATTERN}`,
    },
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [metadata({ name: "walk", size: MAX_U64 })],
      code: "INVALID_ARGUMENT",
      details: `metadata.size must be from 0 to 9007199254740991, got ${MAX_U64}`,
    },
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [metadata({ name: "walk", size: 3_000_000_000n })],
      code: "RESOURCE_EXHAUSTED",
      details: "metadata.size is 3000000000 bytes; ijrd accepts tarballs of at most 2147483648",
    },
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [metadata({ name: "walk", sha256: "XYZ" })],
      code: "INVALID_ARGUMENT",
      details: 'metadata.sha256 must be empty or 64 lower-case hex digits, got "XYZ"',
    },
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [metadata({ name: "walk" }), chunk(bytes(0x1f, 0x8b)), metadata({ name: "walk" })],
      code: "INVALID_ARGUMENT",
      details: "request message 3 of the upload carries metadata; only the first one may",
    },
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [metadata({ name: "walk" }), bin(UploadRootfsRequestSchema, {})],
      code: "INVALID_ARGUMENT",
      details: "request message 2 of the upload has neither metadata nor chunk",
    },
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [metadata({ name: "walk" }), chunk(new TextEncoder().encode("hello"))],
      code: "INVALID_ARGUMENT",
      details: "not a gzip file (it starts with 0x68 0x65, not 0x1f 0x8b): upload a " +
        "gzip-compressed tarball (tar -czf)",
    },
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [metadata({ name: "bb" })],
      code: "ALREADY_EXISTS",
      details: 'rootfs "bb" already exists (upload with replace to overwrite it)',
    },
    {
      // Names the jobs: only admins upload.
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [metadata({ name: "bb", replace: true })],
      code: "FAILED_PRECONDITION",
      details: `rootfs "bb" cannot be replaced while jobs use it: ${bobJob}`,
    },
    {
      method: "RootfsService/UploadRootfs",
      send: [metadata({ name: "walk" })],
      code: "PERMISSION_DENIED",
      details: "rootfs upload needs the admin role; alice is a user",
    },
    {
      user: "admin",
      method: "RootfsService/UploadRootfs",
      send: [metadata({ name: "walk" }), chunk(new Uint8Array(5 * 1024 * 1024))],
      code: "RESOURCE_EXHAUSTED",
      details: OVERSIZED,
    },

    // ListRootfs: no fields; unknown ones are ignored, as protobuf wants.
    {
      method: "RootfsService/ListRootfs",
      send: bytes(0x07),
      code: "INVALID_ARGUMENT",
      details:
        "request is not a valid ijr.v1.ListRootfsRequest: illegal tag: field no 0 wire type 7",
    },
    { method: "RootfsService/ListRootfs", send: bytes(0x08, 0x01), code: "OK", details: "" },

    // DeleteRootfs (admins only).
    {
      user: "admin",
      method: "RootfsService/DeleteRootfs",
      send: bytes(0x0a),
      code: "INVALID_ARGUMENT",
      details: "request is not a valid ijr.v1.DeleteRootfsRequest: premature EOF",
    },
    {
      user: "admin",
      method: "RootfsService/DeleteRootfs",
      send: bin(DeleteRootfsRequestSchema, { name: "" }),
      code: "INVALID_ARGUMENT",
      details: `invalid rootfs name "": it is empty ${NAME_PATTERN}`,
    },
    {
      user: "admin",
      method: "RootfsService/DeleteRootfs",
      send: bin(DeleteRootfsRequestSchema, { name: "nope" }),
      code: "NOT_FOUND",
      details: 'no rootfs named "nope"',
    },
    {
      user: "admin",
      method: "RootfsService/DeleteRootfs",
      send: bin(DeleteRootfsRequestSchema, { name: "bb" }),
      code: "FAILED_PRECONDITION",
      details: `rootfs "bb" is in use by running jobs: ${bobJob}`,
    },
    {
      method: "RootfsService/DeleteRootfs",
      send: bin(DeleteRootfsRequestSchema, { name: "bb" }),
      code: "PERMISSION_DENIED",
      details: "rootfs delete needs the admin role; alice is a user",
    },
  ];
}

function call(client: RawClientType, walkCase: Case) {
  const path = `/ijr.v1.${walkCase.method}`;
  if (walkCase.method === "RootfsService/UploadRootfs") {
    return client.clientStream(path, walkCase.send as Uint8Array[]);
  }
  if (walkCase.method === "JobService/StreamOutput" || walkCase.method === "JobService/RunJob") {
    return client.serverStream(path, walkCase.send as Uint8Array);
  }
  return client.unary(path, walkCase.send as Uint8Array);
}

/** The request log's lines, parsed. */
function requestLogLines(text: string): { method: string; outcome: string }[] {
  return text.split("\n")
    .filter((line) => line.startsWith("{") && line.includes('"method"'))
    .map((line) => JSON.parse(line));
}

rootTest("e2e: every RPC refuses out-of-range and malformed requests precisely", async () => {
  const daemon = await startDaemon();
  const pki = await testPki();
  const address = `localhost:${daemon.port}`;
  const raw = {
    admin: new RawClient(address, pki, "admin"),
    alice: new RawClient(address, pki, "alice"),
    bob: new RawClient(address, pki, "bob"),
  };
  const typed = (user: User) =>
    createClient(
      JobService,
      address,
      tlsOf(pki, user),
    );
  const jobs = { admin: typed("admin"), alice: typed("alice"), bob: typed("bob") };
  try {
    await uploadBusybox(daemon, "bb");
    const bobJob = (await jobs.bob.startJob({ rootfs: "bb", argv: ["sleep", "60"] })).job!.id;

    // The walk.
    const cases = walkCases(bobJob);
    const logBefore = daemon.stderr().length;
    for (const walkCase of cases) {
      const result = await call(raw[walkCase.user ?? "alice"], walkCase);
      const label = `${walkCase.method} as ${walkCase.user ?? "alice"}, expecting ${
        typeof walkCase.details === "string" ? walkCase.details : walkCase.code
      }`;
      assert.equal(result.code, walkCase.code, `${label}: got ${result.code} ${result.details}`);
      if (typeof walkCase.details === "string") {
        assert.equal(result.details, walkCase.details, label);
      } else {
        assert.match(result.details, walkCase.details, label);
      }
    }

    // The daemon still serves: a job starts, runs, and reports its status and output.
    const { job } = await jobs.alice.startJob({
      rootfs: "bb",
      argv: ["sh", "-c", "echo hello from $(hostname); exit 3"],
    });
    const id = job!.id;
    let output = "";
    for await (const { data } of jobs.alice.streamOutput({ jobId: id })) {
      output += new TextDecoder().decode(data);
    }
    assert.equal(output, `hello from ${id}\n`);
    const done = (await jobs.alice.getJob({ jobId: id })).job!;
    assert.deepEqual([done.state, done.exitCode], [JobState.EXITED, 3]);

    // A 30-day timeout (past setTimeout's 2^31-1 ms) is armed, not fired at once.
    const long = (await jobs.alice.startJob({
      rootfs: "bb",
      argv: ["sleep", "60"],
      timeout: { seconds: 2_592_000n },
    })).job!;
    await new Promise((r) => setTimeout(r, 500));
    const still = (await jobs.alice.getJob({ jobId: long.id })).job!;
    assert.equal(still.state, JobState.RUNNING, still.message);
    assert.equal(still.timeout?.seconds, 2_592_000n);
    const stopped = (await jobs.alice.stopJob({ jobId: long.id, gracePeriod: {} })).job!;
    assert.deepEqual([stopped.state, stopped.message], [JobState.STOPPED, "stopped by request"]);
    await jobs.admin.stopJob({ jobId: bobJob, gracePeriod: {} });

    // Nothing is left of the refused starts: no job, record, folder or cgroup.
    const listAll = async (user: User) =>
      (await jobs[user].listJobs({ includeFinished: true })).jobs.map((j) => j.id);
    assert.deepEqual(await listAll("alice"), [id, long.id]);
    assert.deepEqual(await listAll("admin"), [bobJob, id, long.id]);
    const jobsDir = join(daemon.stateDir, "jobs");
    const folders = [...Deno.readDirSync(jobsDir)].map((e) => e.name);
    const recorded = folders.filter((name) => {
      try {
        Deno.statSync(join(jobsDir, name, "job.json"));
        return true;
      } catch {
        return false;
      }
    });
    assert.deepEqual(recorded.sort(), [bobJob, id, long.id].sort());
    // Besides them, at most the one folder ijrd makes ahead for its next job.
    assert.ok(folders.length - recorded.length <= 1, `job folders: ${folders.join(", ")}`);
    // An ended job's cgroups (and its owner's emptied group) go just after its end is
    // reported: bob's job may have ended a moment ago.
    await waitFor(() => Promise.resolve(jobCgroupsLeft(daemon.port).length === 0), 5_000);
    assert.deepEqual(jobCgroupsLeft(daemon.port), []);

    // One log line per call, with the status the client got, oversized messages too; none
    // INTERNAL.
    const walkLog = requestLogLines(daemon.stderr().slice(logBefore));
    assert.deepEqual(walkLog.filter((line) => line.outcome === "INTERNAL"), []);
    const expected = cases.map((c) => `/ijr.v1.${c.method} ${c.code}`);
    const logged = walkLog.map((line) => `${line.method} ${line.outcome}`);
    for (const line of new Set(expected)) {
      const want = expected.filter((l) => l === line).length;
      const got = logged.filter((l) => l === line).length;
      assert.ok(got >= want, `${line}: ${got} log lines, ${want} expected`);
    }
    assert.ok(logged.length >= expected.length);
    assert.deepEqual(requestLogLines(daemon.stderr()).filter((l) => l.outcome === "INTERNAL"), []);
  } finally {
    for (const client of [...Object.values(raw), ...Object.values(jobs)]) client.close();
    await cleanupDaemon(daemon);
  }
});
