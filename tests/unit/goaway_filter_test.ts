/**
 * ijrd's filter of what clients send (lib/rpc/transport/goaway_filter.ts): every byte passes
 * unchanged and in order except whole GOAWAY frames, however the stream is cut into chunks;
 * and behind ijrd's listener a connection whose client sent GOAWAY goes on being served.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { JobService } from "../../lib/gen/ijr/v1/job_pb.ts";
import { CLIENT_PREFACE, encodeFrame, FrameType } from "../../lib/rpc/h2/frames.ts";
import { addService, GoawayDropper, listenMutualTls } from "../../lib/rpc/transport/mod.ts";
import { contextOptions } from "../../lib/rpc/wire/mod.ts";
import { createClient } from "../../lib/rpc/client/mod.ts";
import { testPki } from "../helpers/pki.ts";
import { getJobOnly, tlsOf } from "../helpers/grpc_server.ts";
import { sendGoawayAfterPreface } from "../helpers/h2_raw.ts";

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
    CLIENT_PREFACE,
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
  const expected = concat([CLIENT_PREFACE, ...kept]);
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
  addService(server, JobService, getJobOnly(() => Promise.resolve({})));
  const listener = await listenMutualTls(server, { host: "127.0.0.1", port: 0 }, {
    caPem: pki.ca.certPem,
    certPem: pki.server.certPem,
    keyPem: pki.server.keyPem,
  });
  try {
    const client = createClient(JobService, `localhost:${listener.port}`, tlsOf(pki, "alice"));
    await client.getJob({});
    // A raw client, then, saying GOAWAY right after its preface (without the filter this
    // aborted this very process in nghttp2, or drew a GOAWAY from grpc-js's session): the
    // server's SETTINGS and its ack come back, and no GOAWAY, since it never saw one.
    const types = await sendGoawayAfterPreface({
      ...contextOptions(tlsOf(pki, "alice")),
      host: "127.0.0.1",
      port: listener.port,
      servername: "localhost",
    });
    assert.ok(types.includes(FrameType.SETTINGS) && !types.includes(FrameType.GOAWAY), `${types}`);
    // And the server serves on.
    await client.getJob({});
    client.close();
  } finally {
    listener.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }
});
