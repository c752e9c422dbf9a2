/**
 * IJR's HTTP/2 client (RFC 9113): one connection's frames, flow control and streams
 * (connection.ts), over frames (frames.ts) and HPACK header compression (hpack.ts,
 * huffman.ts). What lib/rpc/client builds gRPC calls on.
 * @module
 */

export {
  ClientConnection,
  type ClientStream,
  type ConnectionOptions,
  type Keepalive,
  type StreamAbort,
  type StreamEvents,
} from "./connection.ts";
export { CLIENT_PREFACE, ErrorCode, FrameType } from "./frames.ts";
export type { HeaderField } from "./hpack.ts";
