/**
 * The adapter owns each call from its bytes to its status (lib/rpc/adapter.ts): requests that
 * do not decode are INVALID_ARGUMENT naming the message type, responses that cannot be
 * serialized are INTERNAL with their real error kept, and the call observer (the request log)
 * is told the status the client actually received. Over IJR's gRPC server with mutual TLS,
 * driven by a raw-bytes grpc-js client and IJR's own.
 */
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  GetJobRequestSchema,
  GetJobResponseSchema,
  JobSchema,
  JobService,
  ListJobsResponseSchema,
  RunJobResponseSchema,
} from "../../lib/gen/ijr/v1/job_pb.ts";
import { RootfsService, UploadRootfsRequestSchema } from "../../lib/gen/ijr/v1/rootfs_pb.ts";
import {
  addService,
  type CallRecord,
  EncodedResponse,
  RpcError,
  RpcServer,
  statusName,
} from "../../lib/rpc/transport/mod.ts";
import { createClient } from "../../lib/rpc/client/mod.ts";
import { requestLog, type RequestLogEntry } from "../../lib/rpc/services/mod.ts";
import { IjrError, notFound } from "../../lib/errors/mod.ts";
import { testPki } from "../helpers/pki.ts";
import { startPkiServer, tlsOf } from "../helpers/grpc_server.ts";
import { RawClient } from "../helpers/raw_client.ts";

const INTERNAL_DETAILS = "internal error (see the daemon's log)";

interface Harness {
  raw: RawClient;
  jobs: ReturnType<typeof createClient<typeof JobService.method>>;
  records: CallRecord[];
  logged: RequestLogEntry[];
  events: string[];
}

/** Waits until `records` holds `count` entries: the observer runs when the status is sent. */
async function recordsOf(harness: Harness, count: number): Promise<CallRecord[]> {
  for (let i = 0; i < 200 && harness.records.length < count; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return harness.records;
}

async function withServer(fn: (harness: Harness) => Promise<void>): Promise<void> {
  const pki = await testPki();
  const records: CallRecord[] = [];
  const logged: RequestLogEntry[] = [];
  const events: string[] = [];
  const log = requestLog((entry) => logged.push(entry));
  const onCallEnd = (record: CallRecord) => {
    records.push(record);
    log(record);
  };
  const server = new RpcServer();
  addService(server, JobService, {
    getJob(request, context) {
      events.push(`getJob ${request.jobId}`);
      if (request.jobId === "missing") return Promise.reject(notFound("job missing not found"));
      if (request.jobId === "encoded") {
        const job = create(JobSchema, { id: "e", owner: "alice", exitCode: 7 });
        return Promise.resolve(
          new EncodedResponse(
            GetJobResponseSchema,
            toBinary(GetJobResponseSchema, create(GetJobResponseSchema, { job })),
          ),
        );
      }
      if (request.jobId === "encoded-wrongly") {
        // The types refuse this; only a cast gets it past them, and the adapter still does.
        const wrong = new EncodedResponse(ListJobsResponseSchema, new Uint8Array());
        return Promise.resolve(wrong as unknown as EncodedResponse<typeof GetJobResponseSchema>);
      }
      if (request.jobId === "unserializable") {
        // exit_code is an int32: 2^31 cannot be written.
        return Promise.resolve({ job: { id: "j", exitCode: 2 ** 31 } });
      }
      if (request.jobId === "slow") {
        return new Promise((resolve) =>
          context.signal.addEventListener("abort", () => resolve({}), { once: true })
        );
      }
      return Promise.resolve({ job: { id: request.jobId, owner: "alice" } });
    },
    async *streamOutput(request, context) {
      events.push(`streamOutput ${request.jobId}`);
      try {
        for (let i = 0; !context.signal.aborted; i++) {
          if (request.jobId === "breaks" && i === 2) {
            // Not bytes: the third message cannot be serialized.
            yield { data: 5 as unknown as Uint8Array };
          }
          yield { data: new Uint8Array([i]) };
          if (request.jobId === "three" && i === 2) return;
          await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        events.push("stream handler finished");
      }
    },
    startJob(request, context) {
      if (request.rootfs !== "slow") return Promise.resolve({});
      // A start that completes only after the client's deadline has passed.
      return new Promise((resolve) =>
        context.signal.addEventListener(
          "abort",
          () => resolve({ job: { id: "s1", owner: "alice" } }),
          { once: true },
        )
      );
    },
    stopJob: () => Promise.resolve({}),
    listJobs: () => Promise.resolve({ jobs: [] }),
    deleteJob: () => Promise.resolve({}),
    waitJob: () => Promise.resolve({}),
    async *runJob(request, context) {
      events.push(`runJob ${request.rootfs}`);
      if (request.rootfs === "slow") {
        await new Promise((resolve) =>
          context.signal.addEventListener("abort", resolve, { once: true })
        );
      }
      yield { started: { id: "r1", owner: "alice" } };
      if (request.rootfs === "breaks") throw new IjrError("UNAVAILABLE", "ijrd is shutting down");
      // The last message already encoded, as JobService sends a kept encoding.
      const ended = create(RunJobResponseSchema, { ended: { id: "r1", exitCode: 3 } });
      yield new EncodedResponse(RunJobResponseSchema, toBinary(RunJobResponseSchema, ended));
    },
  }, { onCallEnd });
  addService(server, RootfsService, {
    async uploadRootfs(requests) {
      // A handler that swallows a failing stream still cannot make a malformed upload pass.
      let count = 0;
      try {
        for await (const _ of requests) count++;
      } catch {
        events.push(`upload stopped after ${count}`);
      }
      return { compressedBytes: BigInt(count) };
    },
    listRootfs: () => Promise.resolve({ rootfs: [] }),
    deleteRootfs: () => Promise.resolve({}),
  }, { onCallEnd });
  const running = await startPkiServer(server, pki);
  const raw = new RawClient(running.address, pki, "alice");
  const jobs = createClient(JobService, running.address, tlsOf(pki, "alice"));
  try {
    await fn({ raw, jobs, records, logged, events });
  } finally {
    raw.close();
    jobs.close();
    await running.close();
  }
}

/** The parts of a record that do not vary from run to run. */
function summary(record: CallRecord) {
  return {
    method: record.method,
    code: statusName(record.code),
    details: record.details,
    messages: record.messages,
  };
}

Deno.test("adapter: a unary request that does not decode is INVALID_ARGUMENT naming its type", async () => {
  await withServer(async (harness) => {
    const result = await harness.raw.unary(
      "/ijr.v1.JobService/GetJob",
      new Uint8Array([0x0a, 0x05, 0x61]), // job_id of 5 bytes, 1 sent
    );
    assert.deepEqual(result, {
      code: "INVALID_ARGUMENT",
      details: "request is not a valid ijr.v1.GetJobRequest: premature EOF",
      responses: [],
    });
    // Invalid UTF-8 in a string field is not a valid message either.
    const utf8 = await harness.raw.unary(
      "/ijr.v1.JobService/GetJob",
      new Uint8Array([0x0a, 0x02, 0xc3, 0x28]),
    );
    assert.equal(
      utf8.details,
      "request is not a valid ijr.v1.GetJobRequest: The encoded data is not valid",
    );
    const [record] = await recordsOf(harness, 2);
    assert.deepEqual(summary(record), {
      method: "/ijr.v1.JobService/GetJob",
      code: "INVALID_ARGUMENT",
      details: "request is not a valid ijr.v1.GetJobRequest: premature EOF",
      messages: undefined,
    });
    assert.equal(record.request, undefined);
    assert.deepEqual(harness.events, [], "the handler never ran");
    assert.equal(harness.logged[0].outcome, "INVALID_ARGUMENT");
    assert.equal(harness.logged[0].identity, "alice(user)");
  });
});

Deno.test("adapter: a server-streaming request that does not decode is INVALID_ARGUMENT", async () => {
  await withServer(async (harness) => {
    const result = await harness.raw.serverStream(
      "/ijr.v1.JobService/StreamOutput",
      new Uint8Array([0x07]),
    );
    assert.deepEqual(result, {
      code: "INVALID_ARGUMENT",
      details:
        "request is not a valid ijr.v1.StreamOutputRequest: illegal tag: field no 0 wire type 7",
      responses: [],
    });
    const [record] = await recordsOf(harness, 1);
    assert.deepEqual(summary(record), {
      method: "/ijr.v1.JobService/StreamOutput",
      code: "INVALID_ARGUMENT",
      details:
        "request is not a valid ijr.v1.StreamOutputRequest: illegal tag: field no 0 wire type 7",
      messages: 0,
    });
    assert.deepEqual(harness.events, []);
  });
});

Deno.test("adapter: a malformed message in a client stream fails the call whatever the handler does", async () => {
  await withServer(async (harness) => {
    const metadata = toBinary(
      UploadRootfsRequestSchema,
      create(UploadRootfsRequestSchema, {
        part: { case: "metadata", value: { name: "bb" } },
      }),
    );
    const result = await harness.raw.clientStream("/ijr.v1.RootfsService/UploadRootfs", [
      metadata,
      new Uint8Array([0xff, 0xff]),
      metadata,
    ]);
    assert.deepEqual(result, {
      code: "INVALID_ARGUMENT",
      details: "request message 2 is not a valid ijr.v1.UploadRootfsRequest: premature EOF",
      responses: [],
    });
    assert.deepEqual(harness.events, ["upload stopped after 1"]);
    const [record] = await recordsOf(harness, 1);
    assert.equal(statusName(record.code), "INVALID_ARGUMENT");
    // The first message decoded, so the log can name the rootfs.
    assert.equal(harness.logged[0].rootfs, "bb");
  });
});

Deno.test("adapter: a response that cannot be serialized is INTERNAL, logged with its cause", async () => {
  await withServer(async (harness) => {
    await assert.rejects(harness.jobs.getJob({ jobId: "unserializable" }), (error: unknown) => {
      assert.ok(error instanceof RpcError);
      assert.deepEqual([error.codeName, error.message], ["INTERNAL", INTERNAL_DETAILS]);
      return true;
    });
    const [record] = await recordsOf(harness, 1);
    assert.deepEqual(summary(record), {
      method: "/ijr.v1.JobService/GetJob",
      code: "INTERNAL",
      details: INTERNAL_DETAILS,
      messages: undefined,
    });
    assert.equal(record.response, undefined);
    const [entry] = harness.logged;
    assert.equal(entry.outcome, "INTERNAL");
    assert.equal(entry.job, "unserializable");
    assert.match(
      entry.error ?? "",
      /^Error: cannot encode field ijr\.v1\.Job\.exit_code to binary: invalid int32: 2147483648\n/,
    );
  });
});

Deno.test("adapter: an encoded response goes as it is, if it is of the method's type", async () => {
  await withServer(async (harness) => {
    const { job } = await harness.jobs.getJob({ jobId: "encoded" });
    assert.deepEqual([job?.id, job?.owner, job?.exitCode], ["e", "alice", 7]);
    await assert.rejects(harness.jobs.getJob({ jobId: "encoded-wrongly" }), (error: unknown) => {
      assert.ok(error instanceof RpcError);
      assert.deepEqual([error.codeName, error.message], ["INTERNAL", INTERNAL_DETAILS]);
      return true;
    });
    const records = await recordsOf(harness, 2);
    assert.deepEqual(records.map(summary).map((r) => r.code), ["OK", "INTERNAL"]);
    assert.equal(
      String(records[1].error),
      "Error: an encoded ijr.v1.ListJobsResponse where ijr.v1.GetJobResponse is due",
    );
  });
});

Deno.test("adapter: a stream message that cannot be serialized ends the stream with INTERNAL", async () => {
  await withServer(async (harness) => {
    const result = await harness.raw.serverStream(
      "/ijr.v1.JobService/StreamOutput",
      toBinary(GetJobRequestSchema, create(GetJobRequestSchema, { jobId: "breaks" })),
    );
    assert.equal(result.code, "INTERNAL");
    assert.equal(result.details, INTERNAL_DETAILS);
    // What was sent before is a prefix of the two good messages.
    assert.ok(result.responses.length <= 2, `${result.responses.length} messages`);
    const [record] = await recordsOf(harness, 1);
    assert.deepEqual(summary(record), {
      method: "/ijr.v1.JobService/StreamOutput",
      code: "INTERNAL",
      details: INTERNAL_DETAILS,
      messages: 2,
    });
    assert.match(String(record.error), /ijr\.v1\.StreamOutputResponse\.data/);
    // The handler was ended, so it released what it held.
    assert.deepEqual(harness.events, ["streamOutput breaks", "stream handler finished"]);
    assert.equal(harness.logged[0].outcome, "INTERNAL");
  });
});

Deno.test("adapter: a stream's first message reaches the observer and the log, whatever the outcome", async () => {
  await withServer(async (harness) => {
    const received = [];
    for await (const message of harness.jobs.runJob({ rootfs: "ok" })) received.push(message);
    assert.deepEqual(
      received.map((m) => [m.started?.id, m.started?.owner, m.ended?.id, m.ended?.exitCode]),
      [["r1", "alice", undefined, undefined], [undefined, undefined, "r1", 3]],
    );
    await assert.rejects(
      (async () => {
        for await (const _ of harness.jobs.runJob({ rootfs: "breaks" })) { /* one message */ }
      })(),
      (error: unknown) => error instanceof RpcError && error.codeName === "UNAVAILABLE",
    );
    const records = await recordsOf(harness, 2);
    assert.deepEqual(records.map(summary), [
      { method: "/ijr.v1.JobService/RunJob", code: "OK", details: "OK", messages: 2 },
      {
        method: "/ijr.v1.JobService/RunJob",
        code: "UNAVAILABLE",
        details: "ijrd is shutting down",
        messages: 1,
      },
    ]);
    for (const record of records) {
      assert.deepEqual(record.first, { started: { id: "r1", owner: "alice" } });
    }
    assert.deepEqual(
      harness.logged.map((entry) => [entry.job, entry.rootfs, entry.outcome, entry.messages]),
      [["r1", "ok", "OK", 2], ["r1", "breaks", "UNAVAILABLE", 1]],
    );
  });
});

Deno.test("adapter: a call whose client is gone before its answer still logs what it did", async () => {
  await withServer(async (harness) => {
    // The job is started after the client's deadline: nothing reaches the client, yet the
    // log names the job (an audit must not lose a job someone started).
    const late = (error: unknown) =>
      error instanceof RpcError && error.codeName === "DEADLINE_EXCEEDED";
    await assert.rejects(harness.jobs.startJob({ rootfs: "slow" }, { timeoutMs: 200 }), late);
    await assert.rejects(
      (async () => {
        const stream = harness.jobs.runJob({ rootfs: "slow" }, { timeoutMs: 200 });
        for await (const _ of stream) { /* nothing arrives */ }
      })(),
      late,
    );
    const records = await recordsOf(harness, 2);
    assert.deepEqual(records.map((r) => [r.method, statusName(r.code), r.messages]), [
      ["/ijr.v1.JobService/StartJob", "DEADLINE_EXCEEDED", undefined],
      ["/ijr.v1.JobService/RunJob", "DEADLINE_EXCEEDED", 0],
    ]);
    assert.deepEqual(
      harness.logged.map((entry) => [entry.method, entry.job, entry.rootfs, entry.outcome]),
      [
        ["/ijr.v1.JobService/StartJob", "s1", "slow", "DEADLINE_EXCEEDED"],
        ["/ijr.v1.JobService/RunJob", "r1", "slow", "DEADLINE_EXCEEDED"],
      ],
    );
  });
});

Deno.test("adapter: the observer gets what the client received, once per call", async () => {
  await withServer(async (harness) => {
    const { job } = await harness.jobs.getJob({ jobId: "0123456789abcdef" });
    assert.equal(job?.owner, "alice");
    await assert.rejects(harness.jobs.getJob({ jobId: "missing" }), RpcError);
    const streamed = [];
    for await (const message of harness.jobs.streamOutput({ jobId: "three" })) {
      streamed.push(message.data[0]);
    }
    assert.deepEqual(streamed, [0, 1, 2]);
    // A client that stops reading: the call ends CANCELLED, not OK.
    let count = 0;
    for await (const _ of harness.jobs.streamOutput({ jobId: "endless" })) {
      if (++count === 3) break;
    }
    // A deadline that passes while the handler works: DEADLINE_EXCEEDED, not what the
    // handler returned after it.
    await assert.rejects(
      harness.jobs.getJob({ jobId: "slow" }, { timeoutMs: 200 }),
      (error: unknown) => error instanceof RpcError && error.codeName === "DEADLINE_EXCEEDED",
    );
    const records = await recordsOf(harness, 5);
    const byJob = (id: string) =>
      records.filter((r) => (r.request as { jobId?: string }).jobId === id).map(summary);
    assert.deepEqual(byJob("0123456789abcdef"), [{
      method: "/ijr.v1.JobService/GetJob",
      code: "OK",
      details: "OK",
      messages: undefined,
    }]);
    assert.deepEqual(byJob("missing"), [{
      method: "/ijr.v1.JobService/GetJob",
      code: "NOT_FOUND",
      details: "job missing not found",
      messages: undefined,
    }]);
    assert.deepEqual(byJob("three"), [{
      method: "/ijr.v1.JobService/StreamOutput",
      code: "OK",
      details: "OK",
      messages: 3,
    }]);
    // A chunk of output is not kept for the observer: it would stay in memory as long as the
    // stream, and says nothing the log uses.
    const streams = records.filter((r) => r.method.endsWith("/StreamOutput"));
    assert.deepEqual(streams.map((r) => [r.messages! > 0, r.first]), [[true, undefined], [
      true,
      undefined,
    ]]);
    const [endless] = byJob("endless");
    assert.equal(endless.code, "CANCELLED");
    assert.ok(endless.messages! >= 3, `${endless.messages} messages`);
    assert.deepEqual(byJob("slow"), [{
      method: "/ijr.v1.JobService/GetJob",
      code: "DEADLINE_EXCEEDED",
      details: "Deadline exceeded",
      messages: undefined,
    }]);
    assert.equal(records.length, 5);
    // The request log says the same.
    assert.deepEqual(
      harness.logged.map((e) => [e.job, e.outcome]).sort(),
      [
        ["0123456789abcdef", "OK"],
        ["endless", "CANCELLED"],
        ["missing", "NOT_FOUND"],
        ["slow", "DEADLINE_EXCEEDED"],
        ["three", "OK"],
      ],
    );
  });
});
