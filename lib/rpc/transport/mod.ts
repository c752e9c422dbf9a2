/**
 * ijrd's RPC transport: a gRPC server of IJR's own (server.ts, grpc_call.ts) on IJR's HTTP/2
 * (lib/rpc/h2), protobuf-es services on it (adapter.ts), mutual TLS 1.3 (tls.ts) ended by ijrd's
 * listener (listener.ts), and what it shares with the client (lib/rpc/wire: status codes from
 * IJR's errors and back, the TLS policy, gRPC's framing). Neither ijrd nor ijrctl loads grpc-js
 * or node:http2 (tests/unit/ctl_module_graph_test.ts checks).
 * @module
 */

export {
  addService,
  type AddServiceOptions,
  type CallContext,
  type CallObserver,
  type CallRecord,
  EncodedResponse,
  type MethodHandler,
  methodPath,
  type ServiceHandlers,
} from "./adapter.ts";
export {
  RpcError,
  statusName,
  type StatusObject,
  TLS13_CIPHER_SUITES,
  type TlsMaterial,
  toStatus,
} from "../wire/mod.ts";
export { serverTlsOptions } from "./tls.ts";
export { type ConnectionInfo, GrpcCall } from "./grpc_call.ts";
export {
  type CallHandler,
  DEFAULT_MAX_CONCURRENT_STREAMS,
  RpcServer,
  type RpcServerOptions,
} from "./server.ts";
export { HANDSHAKE_TIMEOUT_MS, listenMutualTls, type MutualTlsListener } from "./listener.ts";
