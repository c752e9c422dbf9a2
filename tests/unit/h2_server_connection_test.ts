/**
 * IJR's HTTP/2 server connection (lib/rpc/h2/server_connection.ts) against a raw client over
 * loopback TCP that sends what a hostile user could: streams opened and reset in a loop, bodies
 * beyond the window, oversized headers, frames on streams it never opened, a GOAWAY in the middle
 * of a request, silence to the server's pings.
 */

import assert from "node:assert/strict";
import net from "node:net";
import { setImmediate } from "node:timers";
import {
  type IncomingEvents,
  ServerConnection,
  type ServerConnectionOptions,
  type ServerStream,
} from "../../lib/rpc/h2/server_connection.ts";
import { encodeFrame, ErrorCode, Flag, FrameType, uint31 } from "../../lib/rpc/h2/frames.ts";
import { encodeHeaderBlock, HpackDecoder } from "../../lib/rpc/h2/hpack.ts";
import { errorCodeOf, type RawFrame, RawH2Client } from "../helpers/h2_raw.ts";

type Options = Omit<ServerConnectionOptions, "onStream">;

interface Harness {
  port: number;
  /** Each connection's server side, and the frame types of each write it made. */
  connections: { connection: ServerConnection; writes: number[][] }[];
}

/** Serves ServerConnections on loopback, with `onStream` for every stream, for `fn`. */
async function withServer(
  options: Options,
  onStream: (stream: ServerStream, problem: string | undefined) => IncomingEvents,
  fn: (harness: Harness) => Promise<void>,
): Promise<void> {
  const harness: Harness = { port: 0, connections: [] };
  const server = net.createServer((socket) => {
    const writes: number[][] = [];
    const write = socket.write.bind(socket);
    socket.write = ((chunk: Uint8Array) => {
      writes.push(frameTypesOf(chunk));
      return write(chunk);
    }) as typeof socket.write;
    const connection = new ServerConnection(socket, { ...options, onStream });
    harness.connections.push({ connection, writes });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  harness.port = (server.address() as net.AddressInfo).port;
  try {
    await fn(harness);
  } finally {
    for (const { connection } of harness.connections) connection.close();
    await new Promise((resolve) => server.close(resolve));
  }
}

function frameTypesOf(bytes: Uint8Array): number[] {
  const types: number[] = [];
  for (let at = 0; at + 9 <= bytes.length;) {
    types.push(bytes[at + 3]);
    at += 9 + ((bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2]);
  }
  return types;
}

const REQUEST = encodeHeaderBlock([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/test/Echo"],
  [":authority", "localhost"],
  ["content-type", "application/grpc"],
]);

const headers = (streamId: number, endStream = false, block = REQUEST) =>
  encodeFrame(
    FrameType.HEADERS,
    Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0),
    streamId,
    block,
  );
const data = (streamId: number, bytes: Uint8Array, endStream = false) =>
  encodeFrame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, bytes);
const reset = (streamId: number, code: number = ErrorCode.CANCEL) => {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, code);
  return encodeFrame(FrameType.RST_STREAM, 0, streamId, payload);
};
const is = (type: number, streamId?: number) => (frame: RawFrame) =>
  frame.type === type && (streamId === undefined || frame.streamId === streamId);
const decodeFields = (frame: RawFrame) => new HpackDecoder().decode(frame.payload);

/** An owner that answers each request, once its body has ended, with its body echoed. */
function echo(stream: ServerStream): IncomingEvents {
  const chunks: number[] = [];
  return {
    data(bytes, endStream) {
      chunks.push(...bytes);
      stream.consumed(bytes.length);
      if (!endStream) return;
      stream.respond([[":status", "200"]], false);
      void stream.send(new Uint8Array(chunks));
      stream.trailers([["grpc-status", "0"]]);
      stream.release();
    },
    aborted() {
      stream.release();
    },
  };
}

Deno.test("h2 server: an answer's headers, body and trailers leave in one write", async () => {
  await withServer({ maxConcurrentStreams: 8 }, echo, async ({ port, connections }) => {
    const client = await RawH2Client.connect(port);
    const settings = await client.next(is(FrameType.SETTINGS));
    assert.equal(settings?.flags, 0, "the server's own SETTINGS come first");
    // MAX_CONCURRENT_STREAMS 8, INITIAL_WINDOW_SIZE 1 MiB, MAX_HEADER_LIST_SIZE 16 KiB.
    assert.deepEqual([...settings!.payload], [
      ...[0, 3, 0, 0, 0, 8],
      ...[0, 4, 0, 0x10, 0, 0],
      ...[0, 6, 0, 0, 0x40, 0],
    ]);
    await client.next((frame) => frame.type === FrameType.SETTINGS && frame.flags === Flag.ACK);
    const writesBefore = connections[0].writes.length;
    client.send(headers(1), data(1, new Uint8Array([1, 2, 3]), true));
    const answer = await client.next(is(FrameType.HEADERS, 1));
    assert.deepEqual(decodeFields(answer!), [[":status", "200"]]);
    const body = await client.next(is(FrameType.DATA, 1));
    assert.deepEqual([...body!.payload], [1, 2, 3]);
    const trailers = await client.next(is(FrameType.HEADERS, 1));
    assert.equal(trailers!.flags & Flag.END_STREAM, Flag.END_STREAM);
    assert.deepEqual(decodeFields(trailers!), [["grpc-status", "0"]]);
    assert.deepEqual(connections[0].writes.slice(writesBefore), [[
      FrameType.HEADERS,
      FrameType.DATA,
      FrameType.HEADERS,
    ]]);
    client.close();
  });
});

Deno.test("h2 server: a finished answer leaves before the work its turn left for later", async () => {
  // ijrd's start of a short job: the job's end is recorded in a later turn (setImmediate), and
  // the start's answer must not wait behind it (it did while answers waited for the turn's end).
  let writesWhenLaterWorkRan: number | undefined;
  let harnessWrites: number[][] = [];
  const answerThenWork = (stream: ServerStream): IncomingEvents => ({
    data(bytes, endStream) {
      stream.consumed(bytes.length);
      if (!endStream) return;
      setImmediate(() => writesWhenLaterWorkRan = harnessWrites.length);
      stream.respond([[":status", "200"]], false);
      const sent = stream.send(new Uint8Array([7]));
      // The status comes a few microtasks after the message, as a handler's iteration gives it.
      void sent.then(() => Promise.resolve()).then(() => {
        stream.trailers([["grpc-status", "0"]]);
        stream.release();
      });
    },
    aborted() {
      stream.release();
    },
  });
  await withServer({ maxConcurrentStreams: 8 }, answerThenWork, async ({ port, connections }) => {
    const client = await RawH2Client.connect(port);
    await client.next((frame) => frame.type === FrameType.SETTINGS && frame.flags === Flag.ACK);
    harnessWrites = connections[0].writes;
    const writesBefore = harnessWrites.length;
    client.send(headers(1), data(1, new Uint8Array([1]), true));
    const trailers = await client.next((frame) =>
      frame.type === FrameType.HEADERS && frame.streamId === 1 &&
      (frame.flags & Flag.END_STREAM) !== 0
    );
    assert.deepEqual(decodeFields(trailers!), [["grpc-status", "0"]]);
    // One write with the whole answer, made before the later work ran.
    assert.deepEqual(harnessWrites.slice(writesBefore), [[
      FrameType.HEADERS,
      FrameType.DATA,
      FrameType.HEADERS,
    ]]);
    assert.equal(writesWhenLaterWorkRan, writesBefore + 1);
    client.close();
  });
});

Deno.test("h2 server: streams opened and reset in a loop get no more owners than the limit", async () => {
  // The "rapid reset" attack: a reset stream's place stays taken until its owner lets it go.
  const owners: ServerStream[] = [];
  const onStream = (stream: ServerStream) => {
    owners.push(stream);
    return { data() {}, aborted() {} };
  };
  await withServer({ maxConcurrentStreams: 4 }, onStream, async ({ port }) => {
    const client = await RawH2Client.connect(port);
    const frames: Uint8Array[] = [];
    for (let id = 1; id <= 39; id += 2) frames.push(headers(id), reset(id));
    client.send(...frames);
    const refused: number[] = [];
    for (let i = 0; i < 16; i++) {
      const frame = await client.next(is(FrameType.RST_STREAM));
      assert.equal(errorCodeOf(frame!), ErrorCode.REFUSED_STREAM);
      refused.push(frame!.streamId);
    }
    assert.deepEqual(owners.map((stream) => stream.id), [1, 3, 5, 7]);
    assert.deepEqual(refused, Array.from({ length: 16 }, (_, i) => 9 + 2 * i));
    assert.ok(owners.every((stream) => stream.closed), "reset streams are closed");
    // Once an owner lets go, a new stream is taken again.
    owners[0].release();
    client.send(headers(41), reset(41));
    await client.next(is(FrameType.PING), 200).catch(() => undefined);
    assert.deepEqual(owners.map((stream) => stream.id), [1, 3, 5, 7, 41]);
    client.close();
  });
});

Deno.test("h2 server: a client's GOAWAY in the middle of a request still gets its answer", async () => {
  // What aborted Deno's nghttp2, and ijrd with it, before ijrd had its own server.
  await withServer({ maxConcurrentStreams: 8 }, echo, async ({ port }) => {
    const client = await RawH2Client.connect(port);
    client.send(headers(1), encodeFrame(FrameType.GOAWAY, 0, 0, new Uint8Array(8)));
    client.send(encodeFrame(FrameType.GOAWAY, 0, 0, new Uint8Array(48)));
    client.send(data(1, new Uint8Array([9]), true));
    const body = await client.next(is(FrameType.DATA, 1));
    assert.deepEqual([...body!.payload], [9]);
    const trailers = await client.next(is(FrameType.HEADERS, 1));
    assert.equal(trailers!.flags & Flag.END_STREAM, Flag.END_STREAM);
    assert.equal(client.frames.some(is(FrameType.GOAWAY)), false);
    client.close();
  });
});

Deno.test("h2 server: a body beyond the stream's window ends the connection", async () => {
  const streams: ServerStream[] = [];
  const onStream = (stream: ServerStream) => {
    streams.push(stream);
    return { data() {}, aborted() {} }; // consumes nothing
  };
  await withServer({ maxConcurrentStreams: 8, streamWindow: 20_000 }, onStream, async (h) => {
    const client = await RawH2Client.connect(h.port);
    client.send(headers(1), data(1, new Uint8Array(16_384)), data(1, new Uint8Array(3_616)));
    // Exactly the window: fine. Then one byte more.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(client.closed, false);
    client.send(data(1, new Uint8Array(1)));
    const goaway = await client.next(is(FrameType.GOAWAY));
    assert.equal(errorCodeOf(goaway!), ErrorCode.FLOW_CONTROL_ERROR);
    assert.equal(await client.closedWithin(), true);
    assert.equal(streams[0].closed, true);
  });
});

Deno.test("h2 server: consumed body bytes are credited back in quarter windows", async () => {
  await withServer({ maxConcurrentStreams: 8, streamWindow: 40_000 }, echo, async ({ port }) => {
    const client = await RawH2Client.connect(port);
    client.send(headers(1), data(1, new Uint8Array(9_999)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(client.frames.some(is(FrameType.WINDOW_UPDATE, 1)), false);
    client.send(data(1, new Uint8Array(1)));
    const update = await client.next(is(FrameType.WINDOW_UPDATE, 1));
    assert.deepEqual([...update!.payload], [...uint31(10_000)]);
    client.close();
  });
});

Deno.test("h2 server: oversized headers end their own stream only; the table stays in step", async () => {
  const problems: (string | undefined)[] = [];
  const onStream = (stream: ServerStream, problem: string | undefined) => {
    problems.push(problem);
    if (problem !== undefined) {
      stream.respond([[":status", "431"]], true);
      stream.release();
      return { data() {}, aborted() {} };
    }
    return echo(stream);
  };
  await withServer({ maxConcurrentStreams: 8, maxHeaderListSize: 1024 }, onStream, async (h) => {
    const client = await RawH2Client.connect(h.port);
    // Incremental indexing (0x40): the big field enters the client's and server's tables.
    const big = new Uint8Array([0x40, 0x01, 0x78, 0x7f, 0xd1, 0x0e, ...new Array(2000).fill(0x61)]);
    const block = new Uint8Array([...REQUEST, ...big]);
    client.send(headers(1, true, block));
    const refusal = await client.next(is(FrameType.HEADERS, 1));
    assert.deepEqual(decodeFields(refusal!), [[":status", "431"]]);
    // Stream 3 refers to the table's newest entry (index 62): too large again, and in step.
    client.send(headers(3, true, new Uint8Array([...REQUEST, 0xbe])));
    await client.next(is(FrameType.HEADERS, 3));
    client.send(headers(5), data(5, new Uint8Array([7]), true));
    const body = await client.next(is(FrameType.DATA, 5));
    assert.deepEqual([...body!.payload], [7]);
    assert.deepEqual(problems, [
      "request headers: header list larger than 1024 bytes",
      "request headers: header list larger than 1024 bytes",
      undefined,
    ]);
    client.close();
  });
});

Deno.test("h2 server: frames on streams the client never opened, or closed, end the connection", async () => {
  const cases: { name: string; frames: Uint8Array[]; code: number }[] = [
    { name: "HEADERS on an even stream", frames: [headers(2)], code: ErrorCode.PROTOCOL_ERROR },
    {
      name: "DATA on an idle stream",
      frames: [data(5, new Uint8Array(1))],
      code: ErrorCode.PROTOCOL_ERROR,
    },
    {
      name: "HEADERS again on a closed stream",
      frames: [headers(1), reset(1), headers(1)],
      code: ErrorCode.STREAM_CLOSED,
    },
    {
      name: "a stream's second HEADERS without END_STREAM",
      frames: [headers(1), headers(1)],
      code: ErrorCode.PROTOCOL_ERROR,
    },
    {
      name: "DATA after the request's END_STREAM",
      frames: [headers(1, true), data(1, new Uint8Array(1))],
      code: ErrorCode.STREAM_CLOSED,
    },
    {
      name: "WINDOW_UPDATE on stream 0 of 0",
      frames: [encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, uint31(0))],
      code: ErrorCode.PROTOCOL_ERROR,
    },
  ];
  const held = () => ({ data() {}, aborted() {} });
  for (const { name, frames, code } of cases) {
    await withServer({ maxConcurrentStreams: 8 }, held, async ({ port }) => {
      const client = await RawH2Client.connect(port);
      client.send(...frames);
      const goaway = await client.next(is(FrameType.GOAWAY));
      assert.equal(errorCodeOf(goaway!), code, name);
      assert.equal(await client.closedWithin(), true, name);
    });
  }
});

Deno.test("h2 server: what is not an HTTP/2 preface is refused with GOAWAY", async () => {
  await withServer({ maxConcurrentStreams: 8 }, echo, async ({ port }) => {
    const client = await RawH2Client.connect(port, false);
    client.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const goaway = await client.next(is(FrameType.GOAWAY));
    assert.equal(errorCodeOf(goaway!), ErrorCode.PROTOCOL_ERROR);
    assert.equal(await client.closedWithin(), true);
  });
});

Deno.test("h2 server: drain says GOAWAY, refuses new streams, answers open ones, then closes", async () => {
  let pending: ServerStream | undefined;
  const onStream = (stream: ServerStream) => {
    pending ??= stream;
    return { data() {}, aborted() {} };
  };
  await withServer({ maxConcurrentStreams: 8 }, onStream, async ({ port, connections }) => {
    const client = await RawH2Client.connect(port);
    client.send(headers(1, true));
    await client.next((frame) => frame.type === FrameType.SETTINGS && frame.flags === Flag.ACK);
    connections[0].connection.drain();
    const goaway = await client.next(is(FrameType.GOAWAY));
    assert.equal(errorCodeOf(goaway!), ErrorCode.NO_ERROR);
    assert.deepEqual([...goaway!.payload.subarray(0, 4)], [0, 0, 0, 1], "last stream: 1");
    client.send(headers(3, true));
    const refused = await client.next(is(FrameType.RST_STREAM, 3));
    assert.equal(errorCodeOf(refused!), ErrorCode.REFUSED_STREAM);
    assert.equal(client.closed, false, "stream 1 is still open");
    pending!.respond([[":status", "200"], ["grpc-status", "0"]], true);
    assert.equal(await client.closedWithin(), true);
    assert.ok(client.frames.some(is(FrameType.HEADERS, 1)));
  });
});

Deno.test("h2 server: an owner's bug costs its connection, told INTERNAL_ERROR, not the process", async () => {
  const onStream = (): IncomingEvents => ({
    data() {
      throw new Error("a bug in the owner");
    },
    aborted() {},
  });
  const errors: string[] = [];
  const original = console.error;
  console.error = (message: string) => errors.push(message);
  try {
    await withServer({ maxConcurrentStreams: 8 }, onStream, async ({ port }) => {
      const client = await RawH2Client.connect(port);
      client.send(headers(1), data(1, new Uint8Array(1)));
      const goaway = await client.next(is(FrameType.GOAWAY));
      assert.equal(errorCodeOf(goaway!), ErrorCode.INTERNAL_ERROR);
      assert.equal(await client.closedWithin(), true);
    });
  } finally {
    console.error = original;
  }
  assert.equal(errors.length, 1);
  assert.match(errors[0], /^ijr: HTTP\/2 connection failed: Error: a bug in the owner/);
});

Deno.test("h2 server: a client that does not answer pings is dropped", async () => {
  const keepalive = { timeMs: 50, timeoutMs: 100 };
  await withServer({ maxConcurrentStreams: 8, keepalive }, echo, async ({ port }) => {
    const client = await RawH2Client.connect(port);
    const ping = await client.next(is(FrameType.PING));
    assert.equal(ping!.flags, 0);
    // Answered once: the connection stays; then silence.
    client.send(encodeFrame(FrameType.PING, Flag.ACK, 0, ping!.payload));
    await client.next((frame) => frame.type === FrameType.PING && frame !== ping);
    assert.equal(client.closed, false);
    assert.equal(await client.closedWithin(1000), true);
  });
});

Deno.test("h2 server: trailers for a stream it answered early are ignored; the connection serves on", async () => {
  const onStream = (stream: ServerStream) => {
    if (stream.id === 1) {
      // Answered while the request is still open: RST_STREAM NO_ERROR follows.
      stream.respond([[":status", "200"], ["grpc-status", "0"]], true);
      stream.release();
      return { data() {}, aborted() {} };
    }
    return echo(stream);
  };
  await withServer({ maxConcurrentStreams: 8 }, onStream, async ({ port }) => {
    const client = await RawH2Client.connect(port);
    client.send(headers(1));
    const early = await client.next(is(FrameType.RST_STREAM, 1));
    assert.equal(errorCodeOf(early!), ErrorCode.NO_ERROR);
    // The client's trailers were on their way.
    client.send(headers(1, true, encodeHeaderBlock([["x-trailer", "late"]])));
    client.send(headers(3), data(3, new Uint8Array([5]), true));
    const body = await client.next(is(FrameType.DATA, 3));
    assert.deepEqual([...body!.payload], [5]);
    assert.equal(client.frames.some(is(FrameType.GOAWAY)), false);
    client.close();
  });
});

Deno.test("h2 server: an answered stream whose last frames wait for the window keeps its place", async () => {
  // Released by its owner but not closed: a client that never credits a window must not
  // open more streams by it.
  const onStream = (stream: ServerStream): IncomingEvents => ({
    data(_bytes, endStream) {
      if (!endStream) return;
      stream.respond([[":status", "200"]], false);
      void stream.send(new Uint8Array(70_000)); // more than the default window
      stream.trailers([["grpc-status", "0"]]);
      stream.release();
    },
    aborted() {
      stream.release();
    },
  });
  await withServer({ maxConcurrentStreams: 2 }, onStream, async ({ port }) => {
    const client = await RawH2Client.connect(port);
    client.send(
      headers(1),
      data(1, new Uint8Array(0), true),
      headers(3),
      data(3, new Uint8Array(0), true),
      headers(5),
      data(5, new Uint8Array(0), true),
    );
    const refused = await client.next(is(FrameType.RST_STREAM, 5));
    assert.equal(errorCodeOf(refused!), ErrorCode.REFUSED_STREAM);
    client.close();
  });
});

Deno.test("h2 server: a connection it ends is closed even when the client reads nothing", async () => {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    new ServerConnection(socket, { maxConcurrentStreams: 8, onStream: echo });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const client = await RawH2Client.connect((server.address() as net.AddressInfo).port);
    client.socket.pause();
    // PINGs whose answers the client does not read, then a protocol error: GOAWAY, the end.
    const pings = Array.from(
      { length: 1000 },
      () => encodeFrame(FrameType.PING, 0, 0, new Uint8Array(8)),
    );
    client.send(...pings);
    await new Promise((resolve) => setTimeout(resolve, 100));
    client.send(encodeFrame(FrameType.PRIORITY, 0, 0, new Uint8Array(5)));
    const started = performance.now();
    while (!sockets[0].destroyed && performance.now() - started < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(sockets[0].destroyed, true, "the server's socket was kept");
    client.close();
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

Deno.test("h2 server: a client that floods PINGs and SETTINGS, reading the answers, is cut off", async () => {
  await withServer({ maxConcurrentStreams: 8 }, echo, async ({ port }) => {
    const client = await RawH2Client.connect(port);
    const ping = encodeFrame(FrameType.PING, 0, 0, new Uint8Array(8));
    const settings = encodeFrame(FrameType.SETTINGS, 0, 0, new Uint8Array([0, 4, 0, 1, 0, 0]));
    client.send(...Array.from({ length: 600 }, (_, i) => i % 2 ? ping : settings));
    client.send(...Array.from({ length: 600 }, () => ping));
    const goaway = await client.next(is(FrameType.GOAWAY));
    assert.equal(errorCodeOf(goaway!), ErrorCode.ENHANCE_YOUR_CALM);
    assert.equal(await client.closedWithin(), true);
  });
});

Deno.test("h2 server: an ended answer the client's window never lets out is reset in time", async () => {
  const streams: ServerStream[] = [];
  const onStream = (stream: ServerStream): IncomingEvents => ({
    data(_bytes, endStream) {
      if (!endStream) return;
      streams.push(stream);
      stream.respond([[":status", "200"]], false);
      void stream.send(new Uint8Array(100_000)); // beyond the default window, never credited
      stream.trailers([["grpc-status", "0"]]);
      stream.release();
    },
    aborted() {},
  });
  await withServer({ maxConcurrentStreams: 8, endWaitMs: 300 }, onStream, async ({ port }) => {
    const client = await RawH2Client.connect(port);
    client.send(headers(1), data(1, new Uint8Array(0), true));
    const reset = await client.next(is(FrameType.RST_STREAM, 1), 3000);
    assert.equal(errorCodeOf(reset!), ErrorCode.CANCEL);
    assert.equal(streams[0].closed, true);
    // No trailers came: what went out was cut short, and says so.
    assert.equal(
      client.frames.some((frame) =>
        frame.type === FrameType.HEADERS && frame.flags & Flag.END_STREAM
      ),
      false,
    );
    client.close();
  });
});
