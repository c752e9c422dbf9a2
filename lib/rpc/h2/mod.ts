/**
 * IJR's HTTP/2 (RFC 9113): the client side of a connection (connection.ts) and the server side
 * (server_connection.ts), on what both do alike (endpoint.ts), over frames (frames.ts) and HPACK
 * header compression (hpack.ts, huffman.ts). What lib/rpc/client and ijrd's server
 * (lib/rpc/transport) build gRPC calls on.
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
export type { ByteSocket } from "./endpoint.ts";
export { CLIENT_PREFACE, ErrorCode, FrameType } from "./frames.ts";
export type { HeaderField } from "./hpack.ts";
export {
  type IncomingAbort,
  type IncomingEvents,
  ServerConnection,
  type ServerConnectionOptions,
  type ServerStream,
} from "./server_connection.ts";
export { encodeHeaderBlock } from "./hpack.ts";
