/**
 * ijrd's filter of what clients send (lib/rpc/transport/goaway_filter.ts): every byte passes
 * unchanged and in order except whole GOAWAY frames, however the stream is cut into chunks;
 * and behind ijrd's listener a connection whose client sent GOAWAY goes on being served.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import * as tls from "node:tls";
import { Buffer } from "node:buffer";
import { JobService } from "../../lib/gen/ijr/v1/job_pb.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import { encodeFrame, FrameType } from "../../lib/rpc/h2/frames.ts";
import { addService, GoawayDropper, listenMutualTls } from "../../lib/rpc/transport/mod.ts";
import { contextOptions } from "../../lib/rpc/wire/mod.ts";
import { createClient } from "../../lib/rpc/client/mod.ts";
import { testPki } from "../helpers/pki.ts";
import { tlsOf } from "../helpers/grpc_server.ts";

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const goaway = (debug = 0) =>
  encodeFrame(FrameType.GOAWAY, 0, 0, new Uint8Array(8 + debug).fill(7, 8));

Deno.test("goaway filter: only whole GOAWAY frames are dropped, however the bytes are cut", () => {
  const kept = [
    encodeFrame(FrameType.SETTINGS, 0, 0, new Uint8Array([0, 4, 0, 1, 0, 0])),
    encodeFrame(FrameType.HEADERS, 0x4, 1, new Uint8Array(30).fill(0x82)),
    encodeFrame(FrameType.DATA, 0x1, 1, new Uint8Array(100).fill(0x07)), // 7 is GOAWAY's type
    encodeFrame(FrameType.PING, 0, 0, new Uint8Array(8).fill(0x07)),
    encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, new Uint8Array([0, 0, 0x07, 0x07])),
    encodeFrame(FrameType.DATA, 0x1, 3, new Uint8Array(0)),
  ];
  const sent = concat([
    PREFACE,
    kept[0],
    goaway(),
    kept[1],
    kept[2],
    goaway(300),
    goaway(),
    kept[3],
    kept[4],
    goaway(1),
    kept[5],
  ]);
  const expected = concat([PREFACE, ...kept]);
  // Every way of cutting it into chunks of 1 to 40 bytes, 300 random ones, and byte by byte.
  const cuttings = [
    Array.from({ length: sent.length }, (_, i) => i + 1),
    ...Array.from({ length: 300 }, () => {
      const cuts: number[] = [];
      for (let at = 0; at < sent.length;) cuts.push(at += 1 + Math.floor(Math.random() * 40));
      return cuts;
    }),
  ];
  for (const cuts of cuttings) {
    const dropper = new GoawayDropper();
    const out: Uint8Array[] = [];
    let from = 0;
    for (const cut of cuts) {
      out.push(...dropper.feed(sent.subarray(from, Math.min(cut, sent.length))));
      from = cut;
    }
    assert.deepEqual(concat(out), expected, `cut at ${cuts.join(",")}`);
    assert.equal(dropper.dropped, 4);
  }
});

Deno.test("goaway filter: a client that sent GOAWAY is served on, behind ijrd's listener", async () => {
  const pki = await testPki();
  const server = new grpc.Server();
  const notHere = () => Promise.reject(new IjrError("INVALID_ARGUMENT", "not in this test"));
  addService(server, JobService, {
    getJob: () => Promise.resolve({}),
    startJob: notHere,
    stopJob: notHere,
    listJobs: notHere,
    deleteJob: notHere,
    waitJob: notHere,
    async *streamOutput() {},
    async *runJob() {},
  });
  const listener = await listenMutualTls(server, { host: "127.0.0.1", port: 0 }, {
    caPem: pki.ca.certPem,
    certPem: pki.server.certPem,
    keyPem: pki.server.keyPem,
  });
  try {
    const client = createClient(JobService, `localhost:${listener.port}`, tlsOf(pki, "alice"));
    await client.getJob({});
    // A raw client, then: GOAWAY frames in the middle of its connection, as grpc-js's client
    // and ijrctl before sent them when closing.
    const socket = tls.connect({
      ...contextOptions(tlsOf(pki, "alice")),
      host: "127.0.0.1",
      port: listener.port,
      servername: "localhost",
      ALPNProtocols: ["h2"],
    });
    await new Promise((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    const received: Uint8Array[] = [];
    socket.on("data", (chunk: Uint8Array) => received.push(chunk));
    socket.write(concat([PREFACE, encodeFrame(FrameType.SETTINGS, 0, 0), goaway(), goaway(40)]));
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The server's SETTINGS and its ack of ours came back, and no GOAWAY (it never saw one).
    const types: number[] = [];
    const bytes = concat(received);
    for (
      let at = 0;
      at + 9 <= bytes.length;
      at += 9 + ((bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2])
    ) {
      types.push(bytes[at + 3]);
    }
    assert.ok(types.includes(FrameType.SETTINGS), `frames: ${types}`);
    assert.ok(!types.includes(FrameType.GOAWAY), `frames: ${types}`);
    socket.destroy();
    // And the server serves on.
    await client.getJob({});
    client.close();
  } finally {
    listener.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }
});
