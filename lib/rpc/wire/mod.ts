/**
 * What both ends of IJR's gRPC share and neither end's library: status codes and RpcError
 * (codes.ts, status.ts), the TLS policy (tls_options.ts), gRPC's message framing (grpc_framing.ts)
 * and the generated message decoders (message_decoder.ts). No grpc-js and no node:http2 here: ijrctl's client (lib/rpc/client)
 * loads this, ijrd's server (lib/rpc/transport) too.
 * @module
 */

export { Code, codeName } from "./codes.ts";
export { RpcError, statusName, type StatusObject, toStatus } from "./status.ts";
export { contextOptions, TLS13_CIPHER_SUITES, type TlsMaterial } from "./tls_options.ts";
export { decodeMessage } from "./message_decoder.ts";
export type { In, MethodShape, Out } from "./method_types.ts";
export {
  frameMessage,
  grpcTimeout,
  header,
  MAX_RECEIVE_MESSAGE_BYTES,
  MessageReader,
  parseGrpcTimeout,
  type PeerRole,
} from "./grpc_framing.ts";
