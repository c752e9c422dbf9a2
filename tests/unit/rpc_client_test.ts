/**
 * IJR's gRPC client (lib/rpc/client) against a server that answers as a test tells it: Node's
 * http2 with the test PKI's mutual TLS, so that answers no grpc-js server would give (a
 * compressed message, two answers to a unary call, no status, a refused stream) can be sent.
 * The client against ijrd's real grpc-js server is covered by rpc_adapter_test and the e2e tests.
 */

import assert from "node:assert/strict";
import http2 from "node:http2";
import { Buffer } from "node:buffer";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetJobResponseSchema, JobSchema, JobService } from "../../lib/gen/ijr/v1/job_pb.ts";
import { RootfsService } from "../../lib/gen/ijr/v1/rootfs_pb.ts";
import { createClient } from "../../lib/rpc/client/mod.ts";
import { frameMessage, grpcTimeout, MessageReader } from "../../lib/rpc/wire/mod.ts";
import { createCertificateAuthority } from "../../lib/pki/mod.ts";
import { testPki } from "../helpers/pki.ts";
import { tlsOf } from "../helpers/grpc_server.ts";
import { rejectsWithStatus } from "../helpers/job_api.ts";

const pki = await testPki();

/** One gRPC message with its prefix (frameMessage's); `flags` 1 claims it is compressed. */
function framed(bytes: Uint8Array, flags = 0): Buffer {
  const out = frameMessage(bytes);
  out[0] = flags;
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}

const jobAnswer = (id: string) =>
  toBinary(GetJobResponseSchema, create(GetJobResponseSchema, { job: create(JobSchema, { id }) }));

interface Seen {
  headers: http2.IncomingHttpHeaders;
  /** The RST_STREAM code the client ended the stream with, if it did. */
  rstCode?: number;
}

/** A mutual-TLS HTTP/2 server whose streams `answer` handles; what each request carried is kept. */
async function withServer(
  answer: (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    index: number,
  ) => void,
  body: (address: string, seen: Seen[], sessions: http2.ServerHttp2Session[]) => Promise<void>,
  tlsOptions: http2.SecureServerOptions = {},
) {
  const server = http2.createSecureServer({
    ca: pki.ca.certPem,
    cert: pki.server.certPem,
    key: pki.server.keyPem,
    requestCert: true,
    rejectUnauthorized: true,
    ...tlsOptions,
  });
  const seen: Seen[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  server.on("session", (session) => sessions.push(session));
  server.on("stream", (stream: http2.ServerHttp2Stream, headers) => {
    const record: Seen = { headers };
    seen.push(record);
    stream.on("error", () => {});
    stream.on("close", () => {
      if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) record.rstCode = stream.rstCode;
    });
    answer(stream, headers, seen.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  try {
    await body(`localhost:${port}`, seen, sessions);
  } finally {
    for (const session of sessions) session.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** Answers one message then the status, after reading the request to its end. */
function reply(
  stream: http2.ServerHttp2Stream,
  messages: Buffer[],
  trailers: Record<string, string>,
) {
  stream.on("data", () => {});
  stream.on("end", () => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
      waitForTrailers: true,
    });
    stream.on("wantTrailers", () => stream.sendTrailers(trailers));
    for (const message of messages) stream.write(message);
    stream.end();
  });
}

Deno.test("rpc client: a unary call sends gRPC's headers and decodes the answer", async () => {
  await withServer(
    (stream) => reply(stream, [framed(jobAnswer("j-1"))], { "grpc-status": "0" }),
    async (address, seen) => {
      const client = createClient(JobService, address, tlsOf(pki, "alice"));
      try {
        const answer = await client.getJob({ jobId: "j-1" }, { timeoutMs: 5_000 });
        assert.equal(answer.job?.id, "j-1");
        const headers = seen[0].headers;
        assert.equal(headers[":method"], "POST");
        assert.equal(headers[":path"], "/ijr.v1.JobService/GetJob");
        assert.equal(headers[":authority"], address);
        assert.equal(headers["content-type"], "application/grpc");
        assert.equal(headers["te"], "trailers");
        assert.match(String(headers["grpc-timeout"]), /^(4\d{3}|5000)m$/);
      } finally {
        client.close();
      }
    },
  );
});

Deno.test("rpc client: what a server answers wrongly fails the call with a precise status", async () => {
  const cases: Record<
    string,
    [(stream: http2.ServerHttp2Stream) => void, string, string | RegExp]
  > = {
    "a status with a percent-encoded message, trailers only": [
      (stream) =>
        stream.respond({
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": "5",
          "grpc-message": "job j-9 not found %E2%80%94 gone",
        }, { endStream: true }),
      "NOT_FOUND",
      "job j-9 not found — gone",
    ],
    "an HTTP error": [
      (stream) => stream.respond({ ":status": 503 }, { endStream: true }),
      "UNAVAILABLE",
      "the server answered with HTTP status 503",
    ],
    "another content type": [
      (stream) =>
        stream.respond({ ":status": 200, "content-type": "text/html" }, { endStream: true }),
      "UNKNOWN",
      'the server answered with content-type "text/html"',
    ],
    "a compressed message": [
      (stream) => reply(stream, [framed(jobAnswer("j"), 1)], { "grpc-status": "0" }),
      "INTERNAL",
      "the server sent a compressed message, and no compression was negotiated",
    ],
    "two answers to a unary call": [
      (stream) =>
        reply(stream, [framed(jobAnswer("a")), framed(jobAnswer("b"))], { "grpc-status": "0" }),
      "INTERNAL",
      "the server sent more than one response message where one was due",
    ],
    "no answer with an OK status": [
      (stream) => reply(stream, [], { "grpc-status": "0" }),
      "INTERNAL",
      "the server sent no response message where one was due",
    ],
    "an HTTP error that carries a gRPC status (a proxy's)": [
      (stream) =>
        stream.respond({ ":status": 503, "grpc-status": "14", "grpc-message": "draining" }, {
          endStream: true,
        }),
      "UNAVAILABLE",
      "draining",
    ],
    "a message larger than 4 MiB": [
      (stream) =>
        reply(stream, [framed(new Uint8Array(4 * 1024 * 1024 + 1))], { "grpc-status": "0" }),
      "RESOURCE_EXHAUSTED",
      "Received message larger than max (4194305 vs. 4194304)",
    ],
    "no status in the trailers": [
      (stream) => reply(stream, [framed(jobAnswer("j"))], { "x-other": "1" }),
      "UNKNOWN",
      "the server sent no status",
    ],
    "an end inside a message": [
      (stream) => reply(stream, [framed(jobAnswer("j")).subarray(0, 6)], { "grpc-status": "0" }),
      "INTERNAL",
      "the answer ended inside a message",
    ],
    "bytes that are not the message": [
      (stream) =>
        reply(stream, [framed(new Uint8Array([0x0a, 0x05, 0x01]))], { "grpc-status": "0" }),
      "INTERNAL",
      /^response is not a valid ijr\.v1\.GetJobResponse: /,
    ],
    "a reset stream": [
      (stream) => stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM),
      "RESOURCE_EXHAUSTED",
      "Bandwidth exhausted or memory limit exceeded",
    ],
  };
  for (const [what, [answer, code, message]] of Object.entries(cases)) {
    await withServer((stream) => answer(stream), async (address) => {
      const client = createClient(JobService, address, tlsOf(pki, "alice"));
      try {
        await rejectsWithStatus(client.getJob({ jobId: "j" }, { timeoutMs: 5_000 }), code, message)
          .catch((error) => {
            throw new Error(`${what}: ${error.message}`);
          });
      } finally {
        client.close();
      }
    });
  }
});

Deno.test("rpc client: a deadline and a cancel end the call here; the server is told at once, or after a grace", async () => {
  await withServer(() => {/* never answers */}, async (address, seen) => {
    const client = createClient(JobService, address, tlsOf(pki, "alice"));
    try {
      const started = performance.now();
      await rejectsWithStatus(
        client.getJob({ jobId: "j" }, { timeoutMs: 200 }),
        "DEADLINE_EXCEEDED",
        /^Deadline exceeded after 0\.2\d\ds$/,
      );
      assert.ok(performance.now() - started < 1_000);

      const controller = new AbortController();
      const waiting = client.getJob({ jobId: "j" }, { signal: controller.signal });
      while (seen.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      controller.abort();
      await rejectsWithStatus(waiting, "CANCELLED", "Cancelled on client");

      // Already aborted: nothing is sent.
      await rejectsWithStatus(
        client.getJob({ jobId: "j" }, { signal: AbortSignal.abort() }),
        "CANCELLED",
        "Cancelled on client",
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(seen.length, 2);
      // The cancel is sent at once. At the deadline the stream is left to the server, which got
      // the same deadline and ends the call itself (its log then says DEADLINE_EXCEEDED); this
      // one never does, so it is reset a second later.
      assert.deepEqual(seen.map((call) => call.rstCode), [
        undefined,
        http2.constants.NGHTTP2_CANCEL,
      ]);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(seen[0].rstCode, http2.constants.NGHTTP2_CANCEL);
    } finally {
      client.close();
    }
  });
});

Deno.test("rpc client: a call the server refused unseen goes once more; after GOAWAY, on a new connection", async () => {
  await withServer((stream, _headers, index) => {
    if (index === 0) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    else reply(stream, [framed(jobAnswer(`answer ${index}`))], { "grpc-status": "0" });
  }, async (address, seen, sessions) => {
    const client = createClient(JobService, address, tlsOf(pki, "alice"));
    try {
      const answer = await client.getJob({ jobId: "j" }, { timeoutMs: 5_000 });
      assert.equal(answer.job?.id, "answer 1");
      assert.equal(seen.length, 2);
      assert.equal(sessions.length, 1);
      // A server that is going away (an ijrd stopping): the next call dials again.
      sessions[0].goaway(http2.constants.NGHTTP2_NO_ERROR);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const next = await client.getJob({ jobId: "j" }, { timeoutMs: 5_000 });
      assert.equal(next.job?.id, "answer 2");
      assert.equal(sessions.length, 2);
    } finally {
      client.close();
    }
  });
  // A client stream is not sent again: its messages were the caller's to give once.
  await withServer((stream) => {
    stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  }, async (address, seen) => {
    const client = createClient(RootfsService, address, tlsOf(pki, "alice"));
    try {
      await rejectsWithStatus(
        client.uploadRootfs([{ part: { case: "chunk", value: new Uint8Array(3) } }], {
          timeoutMs: 5_000,
        }),
        "UNAVAILABLE",
        "Stream refused by server",
      );
      assert.equal(seen.length, 1);
    } finally {
      client.close();
    }
  });
});

Deno.test("rpc client: no server, or a server of another CA, is UNAVAILABLE with the reason", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const nobody = createClient(JobService, `localhost:${port}`, tlsOf(pki, "alice"));
  try {
    await rejectsWithStatus(nobody.getJob({ jobId: "j" }), "UNAVAILABLE", /ECONNREFUSED/);
  } finally {
    nobody.close();
  }
  const stranger = await createCertificateAuthority({ commonName: "another CA" });
  await withServer(() => {}, async (address) => {
    const client = createClient(JobService, address, {
      caPem: stranger.certPem,
      certPem: pki.alice.certPem,
      keyPem: pki.alice.keyPem,
    });
    try {
      await rejectsWithStatus(client.getJob({ jobId: "j" }), "UNAVAILABLE", /certificate/i);
    } finally {
      client.close();
    }
  });
});

Deno.test("rpc client: messages are cut from DATA at any boundary, and deadlines fit 8 digits", () => {
  const messages = [new Uint8Array(0), new Uint8Array(70_000).fill(3), new Uint8Array([1, 2, 3])];
  const wire = Buffer.concat(messages.map((message) => framed(message)));
  // Byte by byte, and in chunks of 7 (which split every prefix somewhere).
  for (const size of [1, 7, wire.length]) {
    const reader = new MessageReader("server");
    const out: Uint8Array[] = [];
    for (let at = 0; at < wire.length; at += size) {
      for (const { message, size: framedSize } of reader.push(wire.subarray(at, at + size))) {
        assert.equal(framedSize, message.length + 5);
        out.push(message.slice());
      }
    }
    assert.equal(reader.partial, 0, `chunks of ${size}`);
    assert.deepEqual(
      out.map((message) => Buffer.from(message).toString("hex")),
      messages.map((message) => Buffer.from(message).toString("hex")),
      `chunks of ${size}`,
    );
  }
  const half = new MessageReader("server");
  assert.deepEqual(
    half.push(wire.subarray(0, 9)).map(({ message, size }) => [message.length, size]),
    [[0, 5]],
  );
  assert.equal(half.partial, 4);

  assert.equal(grpcTimeout(1500), "1500m");
  assert.equal(grpcTimeout(0.2), "1m"); // rounded up: never earlier than asked
  assert.equal(grpcTimeout(99_999_999), "99999999m");
  assert.equal(grpcTimeout(100_000_000), "100000S");
  assert.equal(grpcTimeout(2 ** 53), "99999999H");
});

Deno.test("rpc client: a server that offers only TLS 1.2 is refused, before any call is sent", async () => {
  await withServer(() => {}, async (address, seen) => {
    const client = createClient(JobService, address, tlsOf(pki, "alice"));
    try {
      await rejectsWithStatus(
        client.getJob({ jobId: "j" }, { timeoutMs: 5_000 }),
        "UNAVAILABLE",
        /protocol|version/i,
      );
      assert.equal(seen.length, 0);
    } finally {
      client.close();
    }
  }, { minVersion: "TLSv1.2", maxVersion: "TLSv1.2" });
});
