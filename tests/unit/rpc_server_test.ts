/**
 * ijrd's gRPC layer (lib/rpc/transport/server.ts, grpc_call.ts) against a raw HTTP/2 client over
 * loopback: what is not gRPC is answered as HTTP says, what gRPC does not allow gets a status
 * naming the problem, a deadline ends the call with DEADLINE_EXCEEDED, and an upload the handler
 * does not read stops being credited instead of filling ijrd's memory.
 */

import assert from "node:assert/strict";
import net from "node:net";
import { Code, frameMessage } from "../../lib/rpc/wire/mod.ts";
import { RpcServer } from "../../lib/rpc/transport/mod.ts";
import { encodeFrame, Flag, FrameType } from "../../lib/rpc/h2/frames.ts";
import { encodeHeaderBlock, type HeaderField, HpackDecoder } from "../../lib/rpc/h2/hpack.ts";
import { type RawFrame, RawH2Client } from "../helpers/h2_raw.ts";

/** Serves `server` on loopback for `fn`, calls knowing no certificate. */
async function withServer(server: RpcServer, fn: (port: number) => Promise<void>) {
  const listener = net.createServer((socket) =>
    server.serve(socket, { peerCertificate: undefined })
  );
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  try {
    await fn((listener.address() as net.AddressInfo).port);
  } finally {
    server.close();
    await new Promise((resolve) => listener.close(resolve));
  }
}

function requestBlock(overrides: Record<string, string | undefined> = {}): Uint8Array {
  const fields: Record<string, string | undefined> = {
    ":method": "POST",
    ":scheme": "http",
    ":path": "/test.Service/Echo",
    ":authority": "localhost",
    "content-type": "application/grpc",
    ...overrides,
  };
  return encodeHeaderBlock(
    Object.entries(fields).filter(([, value]) => value !== undefined) as HeaderField[],
  );
}

/** Sends one request on `streamId`: headers, then `body` with END_STREAM. */
function request(
  client: RawH2Client,
  streamId: number,
  body: Uint8Array,
  overrides: Record<string, string | undefined> = {},
): void {
  client.send(
    encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, streamId, requestBlock(overrides)),
    encodeFrame(FrameType.DATA, Flag.END_STREAM, streamId, body),
  );
}

/** The decoded fields of every header block of `streamId` until its END_STREAM. */
async function answerOf(client: RawH2Client, streamId: number, decoder: HpackDecoder) {
  const blocks: HeaderField[][] = [];
  const messages: Uint8Array[] = [];
  while (true) {
    const frame: RawFrame | undefined = await client.next((f) =>
      f.streamId === streamId && (f.type === FrameType.HEADERS || f.type === FrameType.DATA)
    );
    if (frame === undefined) throw new Error(`the connection closed before stream ${streamId}`);
    if (frame.type === FrameType.HEADERS) blocks.push(decoder.decode(frame.payload));
    else if (frame.payload.length > 0) messages.push(frame.payload.subarray(5));
    if (frame.flags & Flag.END_STREAM) return { blocks, messages };
  }
}

const echoServer = () => {
  const server = new RpcServer();
  server.addMethod("/test.Service/Echo", async (call) => {
    const message = await call.single();
    call.finish({ code: Code.OK, details: "OK" }, message);
  });
  return server;
};

Deno.test("rpc server: what is not gRPC, or asks what ijrd does not do, gets a precise answer", async () => {
  await withServer(echoServer(), async (port) => {
    const client = await RawH2Client.connect(port);
    const decoder = new HpackDecoder();
    const cases: [Record<string, string | undefined>, HeaderField[]][] = [
      [{ ":method": "GET" }, [[":status", "405"]]],
      [{ "content-type": "text/plain" }, [[":status", "415"]]],
      [{ "content-type": undefined }, [[":status", "415"]]],
      [{ ":path": "/test.Service/Nope" }, [
        [":status", "200"],
        ["content-type", "application/grpc"],
        ["grpc-status", String(Code.UNIMPLEMENTED)],
        ["grpc-message", "The server does not implement the method /test.Service/Nope"],
      ]],
      [{ "grpc-encoding": "gzip" }, [
        [":status", "200"],
        ["content-type", "application/grpc"],
        ["grpc-status", String(Code.UNIMPLEMENTED)],
        ["grpc-message", 'grpc-encoding "gzip" is not supported; send messages uncompressed'],
      ]],
      [{ "grpc-timeout": "10 s" }, [
        [":status", "200"],
        ["content-type", "application/grpc"],
        ["grpc-status", String(Code.INVALID_ARGUMENT)],
        [
          "grpc-message",
          'grpc-timeout "10 s" is not 1 to 8 digits and a unit (H, M, S, m, u, n)',
        ],
      ]],
    ];
    let streamId = 1;
    for (const [overrides, expected] of cases) {
      request(client, streamId, frameMessage(new Uint8Array([1])), overrides);
      const { blocks } = await answerOf(client, streamId, decoder);
      assert.deepEqual(blocks, [expected], JSON.stringify(overrides));
      streamId += 2;
    }
    // And the connection serves on.
    request(client, streamId, frameMessage(new Uint8Array([4, 2])));
    const { blocks, messages } = await answerOf(client, streamId, decoder);
    assert.deepEqual(messages, [new Uint8Array([4, 2])]);
    assert.deepEqual(blocks.at(-1), [["grpc-status", "0"]]);
    client.close();
  });
});

Deno.test("rpc server: a request's framing is checked: one message, uncompressed, whole, in size", async () => {
  await withServer(echoServer(), async (port) => {
    const client = await RawH2Client.connect(port);
    const decoder = new HpackDecoder();
    const two = new Uint8Array([
      ...frameMessage(new Uint8Array([1])),
      ...frameMessage(new Uint8Array([2])),
    ]);
    const compressed = frameMessage(new Uint8Array([1]));
    compressed[0] = 1;
    const oversized = new Uint8Array([0, 0, 0x40, 0, 1]); // announces 4 MiB + 1
    const cases: [Uint8Array, number, string][] = [
      [
        new Uint8Array(0),
        Code.INVALID_ARGUMENT,
        "a request of this method is exactly one message; this one had none",
      ],
      [
        two,
        Code.INVALID_ARGUMENT,
        "a request of this method is exactly one message; this one had more",
      ],
      [
        compressed,
        Code.INVALID_ARGUMENT,
        "the client sent a compressed message, and no compression was negotiated",
      ],
      [
        new Uint8Array([0, 0, 0, 0, 9, 1]),
        Code.INVALID_ARGUMENT,
        "the request ended inside a message",
      ],
      [
        oversized,
        Code.RESOURCE_EXHAUSTED,
        "request message of 4194305 bytes; the most accepted is 4194304",
      ],
    ];
    let streamId = 1;
    for (const [body, code, message] of cases) {
      request(client, streamId, body);
      const { blocks } = await answerOf(client, streamId, decoder);
      assert.deepEqual(blocks.at(-1)?.slice(-2), [
        ["grpc-status", String(code)],
        ["grpc-message", message],
      ]);
      streamId += 2;
    }
    client.close();
  });
});

Deno.test("rpc server: a deadline ends the call with DEADLINE_EXCEEDED and aborts its handler", async () => {
  const server = new RpcServer();
  const handlerSaw: string[] = [];
  server.addMethod("/test.Service/Echo", async (call) => {
    await call.single();
    await new Promise((resolve) => call.signal.addEventListener("abort", resolve));
    handlerSaw.push(`aborted, client told ${call.received?.code}`);
    call.finish({ code: Code.OK, details: "OK" }, new Uint8Array([1]));
  });
  await withServer(server, async (port) => {
    const client = await RawH2Client.connect(port);
    const started = performance.now();
    request(client, 1, frameMessage(new Uint8Array([1])), { "grpc-timeout": "150m" });
    const { blocks, messages } = await answerOf(client, 1, new HpackDecoder());
    const ms = performance.now() - started;
    assert.ok(ms >= 140, `ended after ${ms} ms`);
    assert.deepEqual(messages, [], "the late answer is not sent");
    assert.deepEqual(blocks, [[
      [":status", "200"],
      ["content-type", "application/grpc"],
      ["grpc-status", String(Code.DEADLINE_EXCEEDED)],
      ["grpc-message", "Deadline exceeded"],
    ]]);
    assert.deepEqual(handlerSaw, [`aborted, client told ${Code.DEADLINE_EXCEEDED}`]);
    client.close();
  });
});

Deno.test("rpc server: an upload the handler does not read stops being credited", async () => {
  const server = new RpcServer();
  let taken = 0;
  server.addMethod("/test.Service/Echo", async (call) => {
    await new Promise((resolve) => setTimeout(resolve, 400)); // reads nothing for a while
    for await (const message of call.messages()) taken += message.length;
    call.finish({ code: Code.OK, details: "OK" }, new Uint8Array([taken & 0xff]));
  });
  await withServer(server, async (port) => {
    const client = await RawH2Client.connect(port);
    client.send(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock()));
    // 4 MiB in 64 KiB messages, as fast as the stream's window (1 MiB) allows.
    const message = frameMessage(new Uint8Array(65_536 - 5));
    let sent = 0;
    let count = 0;
    const credited = () =>
      client.frames.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 1)
        .reduce((sum, f) => sum + new DataView(f.payload.buffer).getUint32(0), 0);
    const sendWhatFits = () => {
      while (count < 64 && (1 << 20) + credited() - sent >= message.length) {
        for (let at = 0; at < message.length; at += 16_384) {
          client.send(encodeFrame(FrameType.DATA, 0, 1, message.subarray(at, at + 16_384)));
        }
        sent += message.length;
        count++;
      }
    };
    const until = performance.now() + 300;
    while (performance.now() < until) {
      sendWhatFits();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // The handler has read nothing: what ijrd took is the window and its small queue.
    assert.equal(taken, 0);
    assert.ok(sent >= (1 << 20) - message.length, `only ${sent} sent`);
    assert.ok(sent <= (1 << 20) + 256 * 1024 + 2 * 65_536, `${sent} sent before any read`);
    while (count < 64) {
      sendWhatFits();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    client.send(encodeFrame(FrameType.DATA, Flag.END_STREAM, 1, new Uint8Array(0)));
    const { messages } = await answerOf(client, 1, new HpackDecoder());
    assert.equal(taken, 64 * (65_536 - 5));
    assert.deepEqual(messages, [new Uint8Array([taken & 0xff])]);
    client.close();
  });
});

Deno.test("rpc server: a stream's last message and its status leave in one write", async () => {
  // As RunJob ends: the last message, then the status, from later steps of the handler's
  // async iteration. Written apart they were two TLS records and two wake-ups of the client.
  const server = new RpcServer();
  server.addMethod("/test.Service/Echo", async (call) => {
    await call.single();
    await call.write(new Uint8Array([1]));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await call.write(new Uint8Array([2]));
    for (let i = 0; i < 5; i++) await Promise.resolve(); // the iteration's steps
    call.finish({ code: Code.OK, details: "OK" });
  });
  const writes: number[][] = [];
  const listener = net.createServer((socket) => {
    const write = socket.write.bind(socket);
    socket.write = ((chunk: Uint8Array) => {
      const types: number[] = [];
      for (let at = 0; at + 9 <= chunk.length;) {
        types.push(chunk[at + 3]);
        at += 9 + ((chunk[at] << 16) | (chunk[at + 1] << 8) | chunk[at + 2]);
      }
      writes.push(types);
      return write(chunk);
    }) as typeof socket.write;
    server.serve(socket, { peerCertificate: undefined });
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  try {
    const client = await RawH2Client.connect((listener.address() as net.AddressInfo).port);
    await client.next((frame) => frame.type === FrameType.SETTINGS && frame.flags === Flag.ACK);
    const before = writes.length;
    request(client, 1, frameMessage(new Uint8Array([0])));
    const { messages } = await answerOf(client, 1, new HpackDecoder());
    assert.deepEqual(messages, [new Uint8Array([1]), new Uint8Array([2])]);
    assert.deepEqual(writes.slice(before), [
      [FrameType.HEADERS, FrameType.DATA],
      [FrameType.DATA, FrameType.HEADERS],
    ]);
    client.close();
  } finally {
    server.close();
    await new Promise((resolve) => listener.close(resolve));
  }
});

Deno.test("rpc server: an answer larger than a frame, and than the client's window, arrives whole before its status", async () => {
  const answer = new Uint8Array(100_000).map((_, i) => i & 0xff);
  const server = new RpcServer();
  server.addMethod("/test.Service/Echo", async (call) => {
    await call.single();
    call.finish({ code: Code.OK, details: "OK" }, answer);
  });
  await withServer(server, async (port) => {
    // The client's stream window: 30,000 bytes; it and the connection's credited by hand below.
    const client = await RawH2Client.connect(port, false);
    const settings = new Uint8Array([0, 4, 0, 0, 0x75, 0x30]);
    client.send(
      new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
      encodeFrame(FrameType.SETTINGS, 0, 0, settings),
    );
    request(client, 1, frameMessage(new Uint8Array([1])));
    let received = 0;
    const body: number[] = [];
    while (true) {
      const frame = await client.next((f) =>
        f.streamId === 1 && (f.type === FrameType.DATA || f.type === FrameType.HEADERS)
      );
      if (frame!.type === FrameType.HEADERS && frame!.flags & Flag.END_STREAM) {
        const fields = new HpackDecoder().decode(frame!.payload);
        assert.deepEqual(fields, [["grpc-status", "0"]]);
        break;
      }
      if (frame!.type !== FrameType.DATA) continue;
      body.push(...frame!.payload);
      received += frame!.payload.length;
      const credit = new Uint8Array(4);
      new DataView(credit.buffer).setUint32(0, frame!.payload.length);
      client.send(
        encodeFrame(FrameType.WINDOW_UPDATE, 0, 1, credit),
        encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, credit),
      );
    }
    assert.equal(received, 5 + answer.length);
    assert.deepEqual(new Uint8Array(body.slice(5)), answer);
    client.close();
  });
});

Deno.test("rpc server: empty messages cannot pile up: a second on a unary call, or thousands unread, end it", async () => {
  const server = new RpcServer();
  server.addMethod("/test.Service/Echo", async (call) => {
    await call.single();
    call.finish({ code: Code.OK, details: "OK" }, new Uint8Array([1]));
  });
  server.addMethod("/test.Service/Upload", async (call) => {
    await new Promise((resolve) => setTimeout(resolve, 2000)); // reads nothing yet
    for await (const _ of call.messages()) { /* then everything */ }
    call.finish({ code: Code.OK, details: "OK" });
  });
  await withServer(server, async (port) => {
    const client = await RawH2Client.connect(port);
    const decoder = new HpackDecoder();
    const empties = new Uint8Array(5 * 5000); // 5,000 empty messages
    client.send(
      encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock()),
      encodeFrame(FrameType.DATA, 0, 1, frameMessage(new Uint8Array(0))),
      encodeFrame(FrameType.DATA, 0, 1, frameMessage(new Uint8Array(0))),
    );
    const unary = await answerOf(client, 1, decoder);
    assert.deepEqual(unary.blocks.at(-1)?.slice(-2), [
      ["grpc-status", String(Code.INVALID_ARGUMENT)],
      ["grpc-message", "a request of this method is exactly one message; this one had more"],
    ]);
    client.send(
      encodeFrame(
        FrameType.HEADERS,
        Flag.END_HEADERS,
        3,
        requestBlock({ ":path": "/test.Service/Upload" }),
      ),
      encodeFrame(FrameType.DATA, 0, 3, empties.subarray(0, 16_000)),
      encodeFrame(FrameType.DATA, 0, 3, empties.subarray(16_000)),
    );
    const upload = await answerOf(client, 3, decoder);
    assert.deepEqual(upload.blocks.at(-1)?.slice(-2), [
      ["grpc-status", String(Code.RESOURCE_EXHAUSTED)],
      ["grpc-message", "more than 4096 request messages waiting to be read"],
    ]);
    client.close();
  });
});

Deno.test("rpc server: a deadline past what a timer holds (30 days) is kept, not taken as now", async () => {
  const server = new RpcServer();
  let aborted = false;
  server.addMethod("/test.Service/Echo", async (call) => {
    await call.single();
    await new Promise((resolve) => setTimeout(resolve, 200));
    aborted = call.signal.aborted;
    call.finish({ code: Code.OK, details: "OK" }, new Uint8Array([1]));
  });
  await withServer(server, async (port) => {
    const client = await RawH2Client.connect(port);
    request(client, 1, frameMessage(new Uint8Array([1])), { "grpc-timeout": "2592000S" });
    const { blocks, messages } = await answerOf(client, 1, new HpackDecoder());
    assert.equal(aborted, false);
    assert.deepEqual(messages, [new Uint8Array([1])]);
    assert.deepEqual(blocks.at(-1), [["grpc-status", "0"]]);
    client.close();
  });
});

Deno.test("rpc server: a client that does not read its answers stops being read, not buffered for", async () => {
  const server = new RpcServer();
  const sockets: net.Socket[] = [];
  const listener = net.createServer((socket) => {
    sockets.push(socket);
    server.serve(socket, { peerCertificate: undefined });
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  try {
    const client = await RawH2Client.connect((listener.address() as net.AddressInfo).port);
    client.socket.pause(); // reads nothing from now on
    // A long :path, indexed by HPACK once, then named by one byte per request: every request
    // of a dozen bytes draws an UNIMPLEMENTED naming it.
    const path = "/" + "x".repeat(3000);
    const first = new Uint8Array([
      ...requestBlock({ ":path": undefined }),
      0x44, // literal with incremental indexing, name :path (static 4)
      ...[0x7f, 0xba, 0x16], // 3001 bytes: 127 + 2874 (0xba = 58 | 0x80, 0x16 = 22 * 128)
      ...new TextEncoder().encode(path),
    ]);
    const indexed = new Uint8Array([...requestBlock({ ":path": undefined }), 0xbe]);
    client.send(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, first));
    for (let round = 0; round < 20; round++) {
      const frames: Uint8Array[] = [];
      for (let i = 0; i < 1000; i++) {
        const id = 3 + 2 * (round * 1000 + i);
        frames.push(
          encodeFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, indexed),
        );
      }
      client.send(...frames);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    // 20,000 requests would have drawn 60 MB of answers; the server stopped reading instead.
    const buffered = sockets[0].writableLength;
    assert.ok(buffered < 4 * 1024 * 1024, `the server buffered ${buffered} bytes`);
    client.close();
  } finally {
    server.close();
    await new Promise((resolve) => listener.close(resolve));
  }
});

Deno.test("rpc server: a deadline while the answer waits for the client's window resets the stream", async () => {
  const server = new RpcServer();
  let handlerReturned = false;
  server.addMethod("/test.Service/Echo", async (call) => {
    await call.single();
    await call.write(new Uint8Array(200_000)); // the client credits nothing
    handlerReturned = true;
    call.finish({ code: Code.OK, details: "OK" });
  });
  await withServer(server, async (port) => {
    const client = await RawH2Client.connect(port);
    request(client, 1, frameMessage(new Uint8Array([1])), { "grpc-timeout": "200m" });
    const reset = await client.next((f) => f.type === FrameType.RST_STREAM && f.streamId === 1);
    assert.equal(new DataView(reset!.payload.buffer).getUint32(0), 8); // CANCEL
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(handlerReturned, true, "the handler's write returned when the call ended");
    client.close();
  });
});

Deno.test("rpc server: unfinished large messages on many streams hold no more than the connection's budget", async () => {
  const server = new RpcServer({ requestBudgetBytes: 1024 * 1024 });
  server.addMethod("/test.Service/Echo", async (call) => {
    await new Promise((resolve) => call.signal.addEventListener("abort", resolve));
  });
  await withServer(server, async (port) => {
    const client = await RawH2Client.connect(port);
    // Eight streams, each announcing a 4 MiB message and sending 600 KiB of it: without a
    // budget every byte is credited (4.8 MB held), with it the credit stops at about 1 MiB.
    const chunk = new Uint8Array(16_000);
    for (let i = 0; i < 8; i++) {
      const id = 1 + 2 * i;
      const frames = [
        encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, id, requestBlock()),
        encodeFrame(FrameType.DATA, 0, id, new Uint8Array([0, 0, 0x40, 0, 0])),
      ];
      for (let sent = 0; sent < 600_000; sent += chunk.length) {
        frames.push(encodeFrame(FrameType.DATA, 0, id, chunk));
      }
      client.send(...frames);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const credited = client.frames.filter((f) =>
      f.type === FrameType.WINDOW_UPDATE && f.streamId !== 0
    )
      .reduce((sum, f) => sum + new DataView(f.payload.buffer).getUint32(0), 0);
    // Credit goes in quarter windows (256 KiB): at most one more than the budget's worth each.
    assert.ok(credited <= 1024 * 1024 + 8 * 256 * 1024, `${credited} credited`);
    assert.ok(credited >= 512 * 1024, `only ${credited} credited`);
    client.close();
  });
});
