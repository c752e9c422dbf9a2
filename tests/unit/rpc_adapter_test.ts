/**
 * The protobuf-es adapter on IJR's gRPC server, with mutual TLS on loopback, against IJR's client
 * and grpc-js's (a second HTTP/2 implementation, nghttp2's): unary, server streaming, client
 * streaming, errors and cancellation.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { credentialsOf } from "../helpers/grpc_server.ts";
import { create } from "@bufbuild/protobuf";
import { JobService, JobState } from "../../lib/gen/ijr/v1/job_pb.ts";
import { RootfsService } from "../../lib/gen/ijr/v1/rootfs_pb.ts";
import { addService, type CallContext, RpcError, RpcServer } from "../../lib/rpc/transport/mod.ts";
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
async function withClients(server: RpcServer, fn: (clients: Clients) => Promise<void>) {
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
  const server = new RpcServer();
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

Deno.test("paths from the descriptor; grpc-js's client gets answers, and UNIMPLEMENTED for others", async () => {
  const server = new RpcServer();
  addService(server, RootfsService, {
    uploadRootfs: () => Promise.resolve({}),
    listRootfs: () => Promise.resolve({ rootfs: [{ name: "busybox" }] }),
    deleteRootfs: () => Promise.resolve({}),
  });
  assert.throws(
    () =>
      addService(server, RootfsService, {
        uploadRootfs: () => Promise.resolve({}),
        listRootfs: () => Promise.resolve({ rootfs: [] }),
        deleteRootfs: () => Promise.resolve({}),
      }),
    /\/ijr.v1.RootfsService\/UploadRootfs is served twice/,
  );
  const pki = await testPki();
  const running = await startPkiServer(server, pki);
  const client = new grpc.Client(running.address, credentialsOf(pki, "alice"));
  const call = (path: string, request: Uint8Array) =>
    new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        path,
        (bytes: Uint8Array) => Buffer.from(bytes),
        (bytes: Buffer) => bytes,
        request,
        (error, response) => error ? reject(error) : resolve(response!),
      )
    );
  try {
    // ListRootfsResponse { rootfs: [{ name: "busybox" }] }, byte for byte.
    const answer = await call("/ijr.v1.RootfsService/ListRootfs", new Uint8Array(0));
    assert.deepEqual([...answer], [0x0a, 0x09, 0x0a, 0x07, ...new TextEncoder().encode("busybox")]);
    await assert.rejects(call("/ijr.v1.JobService/GetJob", new Uint8Array(0)), (error: unknown) => {
      const { code, details } = error as grpc.ServiceError;
      assert.equal(code, grpc.status.UNIMPLEMENTED);
      assert.equal(details, "The server does not implement the method /ijr.v1.JobService/GetJob");
      return true;
    });
  } finally {
    client.close();
    await running.close();
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
  const server = new RpcServer();
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
  // job field of 5 bytes with 1 sent. The client decodes the bytes itself, so the failure is
  // its own, worded like a bad request's.
  const truncated = new Uint8Array([0x0a, 0x05, 0x61]);
  const valid = new Uint8Array([0x0a, 0x02, 0x68, 0x69]); // StreamOutputResponse, data "hi"
  const ok = { code: 0 as const, details: "" };
  const server = new RpcServer();
  server.addMethod("/ijr.v1.JobService/GetJob", async (call) => {
    await call.single();
    call.finish(ok, truncated);
  });
  server.addMethod("/ijr.v1.JobService/StreamOutput", async (call) => {
    await call.single();
    await call.write(valid);
    await call.write(truncated);
    // Held open: the client must end the call itself once a message does not decode.
    await new Promise((resolve) => call.signal.addEventListener("abort", resolve));
  });
  server.addMethod("/ijr.v1.RootfsService/UploadRootfs", async (call) => {
    for await (const _ of call.messages()) { /* read to the end */ }
    call.finish(ok, truncated);
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
