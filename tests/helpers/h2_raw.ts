/**
 * A raw HTTP/2 client over TLS that says GOAWAY right after its preface: what aborted a grpc-js
 * server on Deno's nghttp2 (lib/rpc/transport/goaway_filter.ts says why), for the tests of
 * ijrd's listener and of the filter behind it.
 * @module
 */

import * as tls from "node:tls";
import { CLIENT_PREFACE, encodeFrame, FrameType } from "../../lib/rpc/h2/frames.ts";

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
