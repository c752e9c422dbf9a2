/**
 * IJR's HTTP/2 client connection against a real HTTP/2 server (Node's http2, nghttp2 underneath,
 * in cleartext over loopback) for what a well-behaved server does, and against a raw TCP server
 * for what a hostile one could send.
 */

import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { Buffer } from "node:buffer";
import {
  ClientConnection,
  type ClientStream,
  type ConnectionOptions,
  type StreamAbort,
} from "../../lib/rpc/h2/connection.ts";
import {
  encodeFrame,
  ErrorCode,
  Flag,
  type Frame,
  FrameReader,
  FrameType,
  uint31,
} from "../../lib/rpc/h2/frames.ts";
import type { HeaderField } from "../../lib/rpc/h2/hpack.ts";

/** What one stream heard, in order, and a promise of its end. */
class Recorder {
  headers: { fields: HeaderField[]; end: boolean }[] = [];
  chunks: Uint8Array[] = [];
  aborted: StreamAbort | undefined;
  stream!: ClientStream;
  /** Credit what arrives at once (else the test credits). */
  autoCredit = true;
  readonly ended: Promise<void>;
  #end!: () => void;
  #onData: (() => void) | undefined;

  constructor() {
    this.ended = new Promise((resolve) => this.#end = resolve);
  }

  get received(): number {
    return this.chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  }

  header(name: string): string | undefined {
    return this.headers.flatMap((block) => block.fields).find(([field]) => field === name)?.[1];
  }

  /** Resolves once `count` bytes have arrived. */
  receivedAtLeast(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.received >= count) resolve();
        else this.#onData = check;
      };
      check();
    });
  }

  readonly events = {
    headers: (fields: HeaderField[], end: boolean) => {
      this.headers.push({ fields, end });
      if (end) this.#end();
    },
    data: (bytes: Uint8Array, end: boolean) => {
      this.chunks.push(bytes.slice()); // a view of the connection's buffer, for this call only
      if (this.autoCredit) this.stream.consumed(bytes.length);
      this.#onData?.();
      if (end) this.#end();
    },
    aborted: (reason: StreamAbort) => {
      this.aborted = reason;
      this.#end();
    },
  };
}

function request(
  connection: ClientConnection,
  path: string,
  endStream = false,
): Recorder {
  const recorder = new Recorder();
  recorder.stream = connection.request(
    [[":method", "POST"], [":scheme", "http"], [":path", path], [":authority", "localhost"]],
    recorder.events,
    endStream,
  );
  return recorder;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}

async function connect(port: number, options: ConnectionOptions = {}) {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.setNoDelay(true);
  return new ClientConnection(socket, options);
}

/** A cleartext HTTP/2 server (prior knowledge), its sessions closed with it. */
async function withH2Server(
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
  body: (
    port: number,
    sessions: http2.ServerHttp2Session[],
    sockets: net.Socket[],
  ) => Promise<void>,
  settings: http2.Settings = {},
) {
  const server = http2.createServer({ settings });
  const sessions: http2.ServerHttp2Session[] = [];
  const sockets: net.Socket[] = [];
  server.on("session", (session) => sessions.push(session));
  server.on("connection", (socket: net.Socket) => sockets.push(socket));
  server.on("stream", (stream: http2.ServerHttp2Stream, headers) => {
    // Streams the tests reset or refuse end with an error on this side: expected.
    stream.on("error", () => {});
    onStream(stream, headers);
  });
  const port = await listen(server as unknown as net.Server);
  try {
    await body(port, sessions, sockets);
  } finally {
    for (const session of sessions) session.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

const sha = async (chunks: Uint8Array[]) =>
  Buffer.from(await crypto.subtle.digest("SHA-256", Buffer.concat(chunks))).toString("hex");

Deno.test("h2: a request with a 1 MiB body, and an answer with Huffman-coded, continued headers", async () => {
  const body = new Uint8Array(1 << 20).map((_, index) => (index * 7 + (index >> 12)) % 256);
  const answer = new Uint8Array(100_000).map((_, index) => index % 251);
  let receivedByServer: Uint8Array[] = [];
  await withH2Server((stream, headers) => {
    const chunks: Uint8Array[] = [];
    stream.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    stream.on("end", () => {
      receivedByServer = chunks;
      stream.respond({
        ":status": 200,
        "x-path": String(headers[":path"]),
        // Past one frame (16 KiB): sent as HEADERS and CONTINUATION.
        "x-big": "h".repeat(20_000),
      }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "x-end": "yes" }));
      stream.end(answer);
    });
  }, async (port) => {
    const connection = await connect(port);
    try {
      const call = request(connection, "/echo");
      await call.stream.send(body, true);
      await call.ended;
      assert.equal(call.aborted, undefined);
      assert.equal(await sha(receivedByServer), await sha([body]));
      assert.equal(call.headers.length, 2);
      assert.equal(call.header(":status"), "200");
      assert.equal(call.header("x-path"), "/echo");
      assert.equal(call.header("x-big"), "h".repeat(20_000));
      assert.deepEqual(call.headers[1], {
        fields: [["grpc-status", "0"], ["x-end", "yes"]],
        end: true,
      });
      assert.equal(await sha(call.chunks), await sha([answer]));
    } finally {
      connection.close();
    }
  });
});

Deno.test("h2: the server sends no further ahead than the stream's window allows", async () => {
  const answer = new Uint8Array(300_000).fill(7);
  await withH2Server((stream) => {
    stream.respond({ ":status": 200 });
    stream.end(answer);
  }, async (port) => {
    const connection = await connect(port, { streamWindow: 65_536 });
    try {
      const call = request(connection, "/big", true);
      call.autoCredit = false;
      await call.receivedAtLeast(65_536);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(call.received, 65_536, "nothing past the window before a credit");
      call.autoCredit = true;
      call.stream.consumed(call.received);
      await call.ended;
      assert.equal(call.received, 300_000);
      assert.equal(call.aborted, undefined);
    } finally {
      connection.close();
    }
  });
});

Deno.test("h2: RST_STREAM, GOAWAY and a lost connection end streams as each says", async () => {
  const streams = new Map<string, http2.ServerHttp2Stream>();
  await withH2Server((stream, headers) => {
    streams.set(String(headers[":path"]), stream);
  }, async (port, sessions, sockets) => {
    const connection = await connect(port);
    try {
      const reset = request(connection, "/reset", true);
      const kept = request(connection, "/kept", true);
      const refused = request(connection, "/refused", true);
      while (streams.size < 3) await new Promise((resolve) => setTimeout(resolve, 5));

      streams.get("/reset")!.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      await reset.ended;
      assert.deepEqual(reset.aborted, { kind: "reset", code: ErrorCode.ENHANCE_YOUR_CALM });

      // The server will finish stream 3 (/kept) and no later one (/refused is 5).
      sessions[0].goaway(http2.constants.NGHTTP2_NO_ERROR, 3);
      await refused.ended;
      assert.deepEqual(refused.aborted, { kind: "refused" });
      assert.equal(connection.accepting, false);
      const late = request(connection, "/late", true);
      await late.ended;
      assert.deepEqual(late.aborted, { kind: "refused" });

      const stream = streams.get("/kept")!;
      stream.respond({ ":status": 200 });
      stream.end("done");
      await kept.ended;
      assert.equal(kept.aborted, undefined);
      assert.equal(new TextDecoder().decode(Buffer.concat(kept.chunks)), "done");
    } finally {
      connection.close();
    }

    const second = await connect(port);
    const lost = request(second, "/lost", true);
    while (!streams.has("/lost")) await new Promise((resolve) => setTimeout(resolve, 5));
    // The TCP connection breaks under the server: no GOAWAY, no RST_STREAM.
    sockets[1].destroy();
    await lost.ended;
    assert.deepEqual(lost.aborted, { kind: "lost", message: "Connection dropped" });
    assert.equal(second.accepting, false);
  });
});

/** A TCP server that answers each connection with `frames(first request's stream)` and records what the client sent. */
async function withRawServer(
  reply: (socket: net.Socket) => void,
  body: (port: number, sent: () => Uint8Array, socket: () => net.Socket) => Promise<void>,
) {
  const received: Uint8Array[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    let replied = false;
    socket.on("data", (chunk: Uint8Array) => {
      received.push(chunk);
      if (!replied) {
        replied = true;
        reply(socket);
      }
    });
    socket.on("error", () => {});
  });
  const port = await listen(server);
  try {
    await body(port, () => Buffer.concat(received), () => sockets[0]);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** The frames a client sent, after its 24-byte preface (`from` for bytes without it). */
function sentFrames(sent: Uint8Array, from = 24): Frame[] {
  const frames: Frame[] = [];
  new FrameReader().feed(sent.subarray(from), (frame) => {
    frames.push({ ...frame, payload: frame.payload.slice() });
    return true;
  });
  return frames;
}

/** The error codes of the GOAWAY frames a client sent. */
function goawayCodes(sent: Uint8Array): number[] {
  return sentFrames(sent).filter((frame) => frame.type === FrameType.GOAWAY).map((frame) =>
    new DataView(frame.payload.buffer, frame.payload.byteOffset + 4, 4).getUint32(0)
  );
}

Deno.test("h2: a server that breaks the protocol loses the connection, told why by GOAWAY", async () => {
  const settings = encodeFrame(FrameType.SETTINGS, 0, 0);
  const okHeaders = encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, new Uint8Array([0x88]));
  const cases: Record<string, [Uint8Array, number]> = {
    "DATA on a stream the client never opened": [
      encodeFrame(FrameType.DATA, 0, 2, new Uint8Array(4)),
      ErrorCode.PROTOCOL_ERROR,
    ],
    "a frame larger than the client accepts": [
      encodeFrame(FrameType.DATA, 0, 1, new Uint8Array(20_000)),
      ErrorCode.FRAME_SIZE_ERROR,
    ],
    "a window pushed past 2^31 - 1": [
      encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, uint31(2 ** 31 - 1)),
      ErrorCode.FLOW_CONTROL_ERROR,
    ],
    "DATA beyond the stream's window": [
      new Uint8Array([...okHeaders, ...encodeFrame(FrameType.DATA, 0, 1, new Uint8Array(2048))]),
      ErrorCode.FLOW_CONTROL_ERROR,
    ],
    "a PUSH_PROMISE after push was disabled": [
      encodeFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, new Uint8Array([0, 0, 0, 2, 0x82])),
      ErrorCode.PROTOCOL_ERROR,
    ],
    "a header block that does not decode": [
      encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, new Uint8Array([0x80])),
      ErrorCode.COMPRESSION_ERROR,
    ],
    "a CONTINUATION without HEADERS": [
      encodeFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, new Uint8Array([0x88])),
      ErrorCode.PROTOCOL_ERROR,
    ],
    "a server that enables push": [
      encodeFrame(FrameType.SETTINGS, 0, 0, new Uint8Array([0, 2, 0, 0, 0, 1])),
      ErrorCode.PROTOCOL_ERROR,
    ],
    "a header block in more than 64 CONTINUATION frames": [
      new Uint8Array([
        ...encodeFrame(FrameType.HEADERS, 0, 1, new Uint8Array([0x88])),
        ...Array.from({ length: 65 }, () => [...encodeFrame(FrameType.CONTINUATION, 0, 1)]).flat(),
      ]),
      ErrorCode.ENHANCE_YOUR_CALM,
    ],
    "a header block interrupted by DATA": [
      new Uint8Array([
        ...encodeFrame(FrameType.HEADERS, 0, 1, new Uint8Array([0x88])),
        ...encodeFrame(FrameType.DATA, 0, 1, new Uint8Array(1)),
      ]),
      ErrorCode.PROTOCOL_ERROR,
    ],
  };
  for (const [what, [frames, code]] of Object.entries(cases)) {
    await withRawServer(
      (socket) => socket.write(new Uint8Array([...settings, ...frames])),
      async (port, sent) => {
        const connection = await connect(port, { streamWindow: 1024 });
        const call = request(connection, "/x", true);
        await call.ended;
        assert.equal(call.aborted?.kind, "lost", what);
        assert.match(
          (call.aborted as { message: string }).message,
          /^HTTP\/2 protocol error from the server: /,
          what,
        );
        assert.equal(connection.accepting, false, what);
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.deepEqual(goawayCodes(sent()), [code], what);
      },
    );
  }
});

Deno.test("h2: a server that stops answering is dropped after an unanswered keepalive ping", async () => {
  await withRawServer(() => {}, async (port, sent) => {
    const connection = await connect(port, { keepalive: { timeMs: 100, timeoutMs: 200 } });
    const started = performance.now();
    const call = request(connection, "/wait", true);
    await call.ended;
    const elapsed = performance.now() - started;
    assert.deepEqual(call.aborted, { kind: "lost", message: "Connection dropped" });
    assert.ok(elapsed >= 290 && elapsed < 2000, `${elapsed} ms`);
    const pings = sentFrames(sent()).filter((frame) => frame.type === FrameType.PING);
    assert.deepEqual(pings.map((ping) => [ping.flags, ping.payload.length]), [[0, 8]]);
  });
});

Deno.test("h2: a request body waits for the server's window and sends exactly what it allows", async () => {
  const initialWindowZero = encodeFrame(
    FrameType.SETTINGS,
    0,
    0,
    new Uint8Array([0, 4, 0, 0, 0, 0]), // INITIAL_WINDOW_SIZE = 0
  );
  await withRawServer((socket) => socket.write(initialWindowZero), async (port, sent, socket) => {
    const connection = await connect(port);
    try {
      await new Promise((resolve) => setTimeout(resolve, 100)); // the SETTINGS are in
      const call = request(connection, "/upload");
      const body = new Uint8Array(50_000).fill(9);
      const sending = call.stream.send(body, true);
      const dataBytes = () =>
        sentFrames(sent()).filter((frame) => frame.type === FrameType.DATA).reduce(
          (sum, frame) => sum + frame.payload.length,
          0,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(dataBytes(), 0, "nothing at a window of 0");
      socket().write(encodeFrame(FrameType.WINDOW_UPDATE, 0, 1, uint31(1000)));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(dataBytes(), 1000, "what the stream's window allows");
      socket().write(encodeFrame(FrameType.WINDOW_UPDATE, 0, 1, uint31(100_000)));
      await sending;
      await new Promise((resolve) => setTimeout(resolve, 50));
      const data = sentFrames(sent()).filter((frame) => frame.type === FrameType.DATA);
      assert.equal(dataBytes(), 50_000);
      assert.equal(data.at(-1)!.flags & Flag.END_STREAM, Flag.END_STREAM);
      assert.ok(data.every((frame) => frame.payload.length <= 16_384), "frames within 16 KiB");
    } finally {
      connection.close();
    }
  });
});

Deno.test("h2: past the server's MAX_CONCURRENT_STREAMS, streams wait their turn; pings keep it", async () => {
  let open = 0;
  let most = 0;
  await withH2Server((stream) => {
    open++;
    most = Math.max(most, open);
    stream.respond({ ":status": 200 });
    // Each answer takes a while, so that the next streams must wait for a place.
    setTimeout(() => {
      open--;
      stream.end("x");
    }, 150);
  }, async (port) => {
    // Keepalive pings every 50 ms, answered by the server: the connection lives on.
    const connection = await connect(port, { keepalive: { timeMs: 50, timeoutMs: 100 } });
    try {
      await new Promise((resolve) => setTimeout(resolve, 50)); // the server's SETTINGS are in
      const calls = [1, 2, 3].map((index) => request(connection, `/${index}`, true));
      await Promise.all(calls.map((call) => call.ended));
      for (const call of calls) {
        assert.equal(call.aborted, undefined);
        assert.equal(new TextDecoder().decode(Buffer.concat(call.chunks)), "x");
      }
      assert.equal(most, 1);
      assert.equal(connection.accepting, true);
    } finally {
      connection.close();
    }
  }, { maxConcurrentStreams: 1 });
});

Deno.test("h2: a server that floods PINGs is cut off", async () => {
  const ping = encodeFrame(FrameType.PING, 0, 0, new Uint8Array(8));
  const flood = new Uint8Array(ping.length * 1_500_000); // 25 MB: more than loopback buffers hold
  for (let at = 0; at < flood.length; at += ping.length) flood.set(ping, at);
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    // Never reads: the client's answers pile up in its socket.
    socket.pause();
    socket.write(encodeFrame(FrameType.SETTINGS, 0, 0));
    socket.write(flood);
    socket.on("error", () => {});
  });
  const port = await listen(server);
  try {
    const connection = await connect(port);
    const call = request(connection, "/x", true);
    await call.ended;
    assert.deepEqual(call.aborted, {
      kind: "lost",
      message: "HTTP/2 protocol error from the server: more than 1000 PING and SETTINGS frames, " +
        "beyond 50 a second",
    });
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A header block of one literal field (name "x-big", a value of `size` bytes, not indexed). */
function bigHeaderBlock(size: number): Uint8Array {
  const name = new TextEncoder().encode("x-big");
  const length: number[] = [0x7f];
  for (let rest = size - 127;; rest >>= 7) {
    if (rest < 128) {
      length.push(rest);
      break;
    }
    length.push((rest & 0x7f) | 0x80);
  }
  return new Uint8Array([
    0x88,
    0x00,
    name.length,
    ...name,
    ...length,
    ...new Uint8Array(size).fill(0x61),
  ]);
}

Deno.test("h2: headers over 64 KiB end their own stream only; the connection serves on", async () => {
  const block = bigHeaderBlock(70_000);
  const frames: number[] = [];
  for (let at = 0; at < block.length; at += 16_384) {
    const last = at + 16_384 >= block.length;
    const type = at === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    frames.push(
      ...encodeFrame(type, last ? Flag.END_HEADERS : 0, 1, block.subarray(at, at + 16_384)),
    );
  }
  let answered = false;
  const received: Uint8Array[] = [];
  await withRawServer((socket) => {
    socket.write(new Uint8Array([...encodeFrame(FrameType.SETTINGS, 0, 0), ...frames]));
    // The second request (stream 3) gets a small answer once its HEADERS are in.
    socket.on("data", (chunk: Uint8Array) => {
      received.push(chunk);
      // What comes after the first chunk (the preface and more) starts at a frame.
      const opened = sentFrames(Buffer.concat(received), 0).some((frame) =>
        frame.type === FrameType.HEADERS && frame.streamId === 3
      );
      if (answered || !opened) return;
      answered = true;
      socket.write(
        encodeFrame(
          FrameType.HEADERS,
          Flag.END_HEADERS | Flag.END_STREAM,
          3,
          new Uint8Array([0x88]),
        ),
      );
    });
  }, async (port, sent) => {
    const connection = await connect(port);
    try {
      const first = request(connection, "/big", true);
      await first.ended;
      assert.deepEqual(first.aborted, {
        kind: "tooLarge",
        message: "response headers: header list larger than 65536 bytes",
      });
      const second = request(connection, "/small", true);
      await second.ended;
      assert.equal(second.aborted, undefined);
      assert.equal(second.header(":status"), "200");
      const resets = sentFrames(sent()).filter((frame) => frame.type === FrameType.RST_STREAM);
      assert.deepEqual(resets.map((frame) => [...frame.payload]), [[
        0,
        0,
        0,
        ErrorCode.PROTOCOL_ERROR,
      ]]);
      assert.deepEqual(goawayCodes(sent()), []);
    } finally {
      connection.close();
    }
  });
});

Deno.test("h2: a stream waiting for a place ends cleanly: its sends return, the connection can close", async () => {
  const oneStream = encodeFrame(FrameType.SETTINGS, 0, 0, new Uint8Array([0, 3, 0, 0, 0, 1]));
  await withRawServer((socket) => socket.write(oneStream), async (port, sent, socket) => {
    const connection = await connect(port);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the SETTINGS are in
    const first = request(connection, "/first");
    const queued = request(connection, "/queued");
    assert.equal(connection.activeStreams, 2);
    const sending = queued.stream.send(new Uint8Array(10), true);
    queued.stream.reset();
    assert.equal(
      await Promise.race([
        sending.then(() => "returned"),
        new Promise((r) => setTimeout(() => r("pending"), 500)),
      ]),
      "returned",
    );
    assert.equal(connection.activeStreams, 1);
    // Closing when idle waits for the open stream, then closes.
    connection.closeWhenIdle();
    assert.equal(connection.accepting, false);
    first.stream.reset();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const frames = sentFrames(sent());
    // Only the first stream was ever sent (HEADERS on 1, then its RST_STREAM), then the
    // connection ended without GOAWAY (close() says why): the server reads its end.
    assert.deepEqual(
      frames.filter((frame) =>
        [FrameType.HEADERS, FrameType.RST_STREAM, FrameType.GOAWAY].includes(
          frame.type as 1 | 3 | 7,
        )
      ).map((frame) => frame.type),
      [FrameType.HEADERS, FrameType.RST_STREAM],
    );
    assert.equal(socket().readableEnded, true);
  });
});
