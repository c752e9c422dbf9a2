/**
 * The protobuf-es <-> grpc-js adapter over a real grpc-js server and client with mutual TLS
 * on loopback: unary, server streaming, client streaming, errors and cancellation.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { JobService, JobState } from "../../lib/gen/ijr/v1/job_pb.ts";
import { RootfsService } from "../../lib/gen/ijr/v1/rootfs_pb.ts";
import {
  addService,
  type CallContext,
  RpcError,
  serviceDefinition,
} from "../../lib/rpc/transport/mod.ts";
import { createClient } from "../../lib/rpc/client/mod.ts";
import { IjrError, notFound } from "../../lib/errors/mod.ts";
import { testPki } from "../helpers/pki.ts";
import { startPkiServer, tlsOf } from "../helpers/grpc_server.ts";
import "reflect-metadata";
import { X509Certificate } from "@peculiar/x509";

function subjectOf(context: CallContext): string {
  assert.ok(context.peerCertificate, "handler sees the verified client certificate");
  return new X509Certificate(new Uint8Array(context.peerCertificate.raw)).subject;
}

const CHUNK_COUNT = 300;
const chunkBytes = (i: number) => new Uint8Array(1000).map((_, j) => (i * 7 + j) & 0xff);

interface Clients {
  jobs: ReturnType<typeof createClient<typeof JobService.method>>;
  rootfs: ReturnType<typeof createClient<typeof RootfsService.method>>;
}

/** Serves `server` with mutual TLS and runs `fn` with typed clients of it (as admin). */
async function withClients(server: grpc.Server, fn: (clients: Clients) => Promise<void>) {
  const pki = await testPki();
  const running = await startPkiServer(server, pki);
  const credentials = tlsOf(pki, "admin");
  const jobs = createClient(JobService, running.address, credentials);
  const rootfs = createClient(RootfsService, running.address, credentials);
  try {
    await fn({ jobs, rootfs });
  } finally {
    jobs.close();
    rootfs.close();
    await running.close();
  }
}

async function withServer(fn: (clients: Clients & { events: string[] }) => Promise<void>) {
  const events: string[] = [];
  const server = new grpc.Server();
  addService(server, JobService, {
    getJob(request, context) {
      if (request.jobId === "missing") return Promise.reject(notFound("job missing not found"));
      if (request.jobId === "crash") return Promise.reject(new Error("secret host detail"));
      return Promise.resolve({
        job: {
          id: request.jobId,
          owner: subjectOf(context),
          argv: ["/bin/echo", "héllo", ""],
          state: JobState.EXITED,
          exitCode: 3,
          limits: { memoryBytes: 1n << 40n, readIops: [{ device: "/dev/vda", iops: 50n }] },
        },
      });
    },
    async *streamOutput(request, context) {
      context.signal.addEventListener("abort", () => events.push("stream cancelled"));
      const count = request.jobId === "endless" ? Number.MAX_SAFE_INTEGER : CHUNK_COUNT;
      for (let i = 0; i < count && !context.signal.aborted; i++) {
        if (request.jobId === "fails-midway" && i === 5) {
          throw new IjrError("UNAVAILABLE", "output went away");
        }
        yield { data: chunkBytes(i) };
        if (request.jobId === "endless") await new Promise((r) => setTimeout(r, 5));
      }
    },
    startJob: () => Promise.reject(new IjrError("INVALID_ARGUMENT", "not in this test")),
    deleteJob: () => Promise.reject(new IjrError("INVALID_ARGUMENT", "not in this test")),
    waitJob: () => Promise.reject(new IjrError("INVALID_ARGUMENT", "not in this test")),
    // deno-lint-ignore require-yield
    async *runJob() {
      throw new IjrError("INVALID_ARGUMENT", "not in this test");
    },
    stopJob: () => Promise.reject(new IjrError("INVALID_ARGUMENT", "not in this test")),
    listJobs: () => Promise.resolve({ jobs: [] }),
  });
  addService(server, RootfsService, {
    async uploadRootfs(requests, context) {
      const hash = createHash("sha256");
      let name = "";
      let bytes = 0n;
      for await (const request of requests) {
        if (request.part.case === "metadata") name = request.part.value.name;
        if (request.part.case === "chunk") {
          hash.update(request.part.value);
          bytes += BigInt(request.part.value.length);
        }
      }
      assert.equal(subjectOf(context), "CN=admin, OU=admin");
      return {
        rootfs: { name: `${name}:${hash.digest("hex")}` },
        compressedBytes: bytes,
      };
    },
    listRootfs: () => Promise.resolve({ rootfs: [] }),
    deleteRootfs: () => Promise.resolve({}),
  });
  await withClients(server, (clients) => fn({ ...clients, events }));
}

Deno.test("service definition: paths and streaming kinds from the descriptor, bytes through", () => {
  const definition = serviceDefinition(JobService);
  assert.deepEqual(Object.keys(definition).sort(), [
    "deleteJob",
    "getJob",
    "listJobs",
    "runJob",
    "startJob",
    "stopJob",
    "streamOutput",
    "waitJob",
  ]);
  assert.equal(definition.waitJob.path, "/ijr.v1.JobService/WaitJob");
  assert.equal(definition.waitJob.responseStream, false);
  assert.equal(definition.streamOutput.path, "/ijr.v1.JobService/StreamOutput");
  assert.equal(definition.streamOutput.responseStream, true);
  assert.equal(definition.streamOutput.requestStream, false);
  assert.equal(definition.runJob.path, "/ijr.v1.JobService/RunJob");
  assert.deepEqual([definition.runJob.requestStream, definition.runJob.responseStream], [
    false,
    true,
  ]);
  const upload = serviceDefinition(RootfsService).uploadRootfs;
  assert.equal(upload.path, "/ijr.v1.RootfsService/UploadRootfs");
  assert.equal(upload.requestStream, true);
  assert.equal(upload.responseStream, false);
  // grpc-js only moves bytes: the adapter decodes requests and encodes responses itself
  // (tests/unit/rpc_adapter_status_test.ts), so a bad message is never grpc-js's INTERNAL.
  const bytes = Buffer.from([0x0a, 0x02, 0x61, 0x62]);
  for (const convert of ["requestDeserialize", "responseSerialize"] as const) {
    assert.equal(definition.getJob[convert](bytes), bytes, convert);
  }
});

Deno.test("unary call over mutual TLS carries every field and the caller's identity", async () => {
  await withServer(async ({ jobs }) => {
    const { job } = await jobs.getJob({ jobId: "j1" });
    assert.ok(job);
    assert.equal(job.id, "j1");
    assert.equal(job.owner, "CN=admin, OU=admin");
    assert.deepEqual(job.argv, ["/bin/echo", "héllo", ""]);
    assert.equal(job.state, JobState.EXITED);
    assert.equal(job.exitCode, 3);
    assert.equal(job.limits?.memoryBytes, 1099511627776n);
    assert.equal(job.limits?.readIops[0].device, "/dev/vda");
    assert.equal(job.limits?.readIops[0].iops, 50n);
  });
});

Deno.test("errors cross as status codes; unknown errors do not leak their text", async () => {
  await withServer(async ({ jobs }) => {
    await assert.rejects(jobs.getJob({ jobId: "missing" }), (error: unknown) => {
      assert.ok(error instanceof RpcError);
      assert.equal(error.codeName, "NOT_FOUND");
      assert.equal(error.message, "job missing not found");
      return true;
    });
    await assert.rejects(jobs.getJob({ jobId: "crash" }), (error: unknown) => {
      assert.ok(error instanceof RpcError);
      assert.equal(error.codeName, "INTERNAL");
      assert.equal(error.message, "internal error (see the daemon's log)");
      return true;
    });
  });
});

Deno.test("server streaming delivers every chunk in order, byte for byte", async () => {
  await withServer(async ({ jobs }) => {
    const received: Uint8Array[] = [];
    for await (const message of jobs.streamOutput({ jobId: "j1" })) received.push(message.data);
    assert.equal(received.length, CHUNK_COUNT);
    received.forEach((chunk, i) => assert.deepEqual(chunk, chunkBytes(i)));
  });
});

Deno.test("server streaming: an error midway ends the stream with its status", async () => {
  // gRPC lets a non-OK status overtake messages still in flight (grpc-js drops them on the
  // client), so what arrives is an exact prefix of what was sent, then the status.
  await withServer(async ({ jobs }) => {
    const received: Uint8Array[] = [];
    await assert.rejects(
      (async () => {
        for await (const message of jobs.streamOutput({ jobId: "fails-midway" })) {
          received.push(message.data);
        }
      })(),
      (error: unknown) =>
        error instanceof RpcError && error.codeName === "UNAVAILABLE" &&
        error.message === "output went away",
    );
    assert.ok(received.length <= 5, `at most the 5 messages sent, got ${received.length}`);
    received.forEach((chunk, i) => assert.deepEqual(chunk, chunkBytes(i)));
  });
});

Deno.test("server streaming: a client that stops reading cancels the server's handler", async () => {
  await withServer(async ({ jobs, events }) => {
    let count = 0;
    for await (const _ of jobs.streamOutput({ jobId: "endless" })) {
      if (++count === 3) break;
    }
    for (let i = 0; i < 100 && events.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(events, ["stream cancelled"]);
  });
});

Deno.test("client streaming: metadata then chunks arrive whole and in order", async () => {
  await withServer(async ({ rootfs }) => {
    const chunks = Array.from({ length: 64 }, (_, i) => chunkBytes(i));
    const expected = createHash("sha256");
    chunks.forEach((chunk) => expected.update(chunk));
    async function* requests() {
      yield create(
        (await import("../../lib/gen/ijr/v1/rootfs_pb.ts")).UploadRootfsRequestSchema,
        { part: { case: "metadata", value: { name: "busybox" } } },
      );
      for (const chunk of chunks) yield { part: { case: "chunk" as const, value: chunk } };
    }
    const response = await rootfs.uploadRootfs(requests());
    assert.equal(response.rootfs?.name, `busybox:${expected.digest("hex")}`);
    assert.equal(response.compressedBytes, 64000n);
  });
});

Deno.test("a client without a certificate from the CA is refused", async () => {
  await withServer(async () => {});
  const pki = await testPki();
  const { createCertificateAuthority, issueClientCertificate } = await import(
    "../../lib/pki/mod.ts"
  );
  const otherCa = await createCertificateAuthority({ commonName: "Other CA" });
  const stranger = await issueClientCertificate(otherCa, { identity: "admin", role: "admin" });
  const server = new grpc.Server();
  addService(server, RootfsService, {
    uploadRootfs: () => Promise.resolve({}),
    listRootfs: () => Promise.resolve({ rootfs: [{ name: "secret" }] }),
    deleteRootfs: () => Promise.resolve({}),
  });
  const running = await startPkiServer(server, pki);
  const client = createClient(
    RootfsService,
    running.address,
    { caPem: pki.ca.certPem, certPem: stranger.certPem, keyPem: stranger.keyPem },
  );
  try {
    await assert.rejects(
      client.listRootfs({}, { timeoutMs: 5000 }),
      (error: unknown) => error instanceof RpcError && error.codeName === "UNAVAILABLE",
    );
  } finally {
    client.close();
    await running.close();
  }
});

Deno.test("a response that does not decode fails the call as INTERNAL, naming its type", async () => {
  // A server that answers bytes no JobService or RootfsService response decodes from: a
  // job field of 5 bytes with 1 sent. The client decodes after grpc-js hands the bytes over
  // (lib/rpc/transport/adapter.ts), so the failure is its own, worded like a bad request's.
  const truncated = Buffer.from([0x0a, 0x05, 0x61]);
  const valid = Buffer.from([0x0a, 0x02, 0x68, 0x69]); // StreamOutputResponse, data "hi"
  const server = new grpc.Server();
  server.addService(serviceDefinition(JobService), {
    getJob: (_call: unknown, reply: grpc.sendUnaryData<Buffer>) => reply(null, truncated),
    streamOutput: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      call.write(valid);
      call.write(truncated);
      // Held open: the client must end the call itself once a message does not decode.
      call.on("cancelled", () => call.end());
    },
  });
  server.addService(serviceDefinition(RootfsService), {
    uploadRootfs: (
      call: grpc.ServerReadableStream<Buffer, Buffer>,
      reply: grpc.sendUnaryData<Buffer>,
    ) => {
      call.on("data", () => {});
      call.on("end", () => reply(null, truncated));
    },
  });
  const internal = (typeName: string) => (error: unknown) => {
    assert.ok(error instanceof RpcError);
    assert.equal(error.codeName, "INTERNAL");
    assert.equal(error.message, `response is not a valid ${typeName}: premature EOF`);
    return true;
  };
  await withClients(server, async ({ jobs, rootfs }) => {
    await assert.rejects(jobs.getJob({ jobId: "j1" }), internal("ijr.v1.GetJobResponse"));
    const received: string[] = [];
    await assert.rejects(async () => {
      for await (const message of jobs.streamOutput({ jobId: "j1" })) {
        received.push(new TextDecoder().decode(message.data));
      }
    }, internal("ijr.v1.StreamOutputResponse"));
    assert.deepEqual(received, ["hi"], "the message before the bad one arrived");
    await assert.rejects(
      rootfs.uploadRootfs([{ part: { case: "metadata", value: { name: "bb" } } }]),
      internal("ijr.v1.UploadRootfsResponse"),
    );
  });
});
