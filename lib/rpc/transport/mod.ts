/**
 * ijrd's RPC transport: protobuf-es services over grpc-js's server (adapter.ts) with mutual
 * TLS 1.3 (tls.ts) ended by ijrd's own listener (listener.ts), in front of which a client's GOAWAY
 * frames are dropped (goaway_filter.ts), and what it shares with the client (lib/rpc/wire: status codes from IJR's
 * errors and back, the TLS policy). ijrctl does not load this folder: its client is
 * lib/rpc/client, without grpc-js (tests/unit/ctl_module_graph_test.ts checks).
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
  serviceDefinition,
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
export { clientCredentials, serverCredentials, serverTlsOptions } from "./tls.ts";
export { FilteredConnection, GoawayDropper } from "./goaway_filter.ts";
export { HANDSHAKE_TIMEOUT_MS, listenMutualTls, type MutualTlsListener } from "./listener.ts";
