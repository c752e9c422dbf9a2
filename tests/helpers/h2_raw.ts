/**
 * Raw HTTP/2 clients for the tests of IJR's server: one over TLS that says GOAWAY right after
 * its preface (what aborted ijrd when it served on grpc-js and Deno's nghttp2, docs/security.md,
 * "Transport"), and one over plain TCP that sends whatever frames a test makes.
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import { CLIENT_PREFACE, encodeFrame, FrameReader, FrameType } from "../../lib/rpc/h2/frames.ts";

/** The types of the frames in `bytes` (a server's answer, from its first frame). */
export function frameTypes(bytes: Uint8Array): number[] {
  const types: number[] = [];
  for (let at = 0; at + 9 <= bytes.length;) {
    types.push(bytes[at + 3]);
    at += 9 + ((bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2]);
  }
  return types;
}

/**
 * Connects with `options` (ALPN h2), sends the preface, SETTINGS and then GOAWAY frames, and
 * returns the types of the frames the server sent in the next `waitMs`.
 */
export async function sendGoawayAfterPreface(
  options: tls.ConnectionOptions,
  waitMs = 300,
): Promise<number[]> {
  const socket = tls.connect({ ...options, ALPNProtocols: ["h2"] });
  await new Promise((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  const received: Uint8Array[] = [];
  socket.on("data", (chunk: Uint8Array) => received.push(chunk));
  const goaway = (debugBytes: number) =>
    encodeFrame(FrameType.GOAWAY, 0, 0, new Uint8Array(8 + debugBytes));
  socket.write(
    new Uint8Array([
      ...CLIENT_PREFACE,
      ...encodeFrame(FrameType.SETTINGS, 0, 0),
      ...goaway(0),
      ...goaway(40),
    ]),
  );
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  socket.destroy();
  return frameTypes(new Uint8Array(received.flatMap((chunk) => [...chunk])));
}

/** A frame as a raw peer received it (its payload copied). */
export interface RawFrame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Uint8Array;
}

/**
 * A raw HTTP/2 client over plain TCP, for tests of IJR's server connection: it sends whatever
 * frames a test makes (well-formed or not) and hands back the server's frames as they come.
 */
export class RawH2Client {
  readonly socket: net.Socket;
  readonly frames: RawFrame[] = [];
  readonly #reader = new FrameReader(2 ** 24 - 1);
  #taken = 0;
  #wake: (() => void) | undefined;
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.#reader.feed(chunk, (frame) => {
        this.frames.push({ ...frame, payload: frame.payload.slice() });
        return true;
      });
      this.#notify();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
      this.#notify();
    });
  }

  /** Connects to `port` on loopback; with `preface`, sends the preface and empty SETTINGS. */
  static async connect(port: number, preface = true): Promise<RawH2Client> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const client = new RawH2Client(socket);
    if (preface) client.send(CLIENT_PREFACE, encodeFrame(FrameType.SETTINGS, 0, 0));
    return client;
  }

  /** Sends `chunks` in one write. */
  send(...chunks: Uint8Array[]): void {
    const bytes = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    this.socket.write(bytes);
  }

  /**
   * The next frame not yet taken that `matches` (frames passed over stay taken), waiting up
   * to `ms` for it; undefined if the connection closed first.
   */
  async next(matches: (frame: RawFrame) => boolean, ms = 3000): Promise<RawFrame | undefined> {
    const deadline = performance.now() + ms;
    while (true) {
      while (this.#taken < this.frames.length) {
        const frame = this.frames[this.#taken++];
        if (matches(frame)) return frame;
      }
      if (this.closed) return undefined;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error("no matching frame from the server in time");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Resolves when the server has closed the connection (or after `ms`, with false). */
  async closedWithin(ms = 3000): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (!this.closed && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** The error code of a GOAWAY or RST_STREAM frame. */
export function errorCodeOf(frame: RawFrame): number {
  const at = frame.type === FrameType.GOAWAY ? 4 : 0;
  return new DataView(frame.payload.buffer, frame.payload.byteOffset).getUint32(at);
}
