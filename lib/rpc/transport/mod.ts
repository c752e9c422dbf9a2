/**
 * The RPC transport: protobuf-es services over grpc-js (adapter.ts), mutual TLS 1.3
 * (tls.ts), gRPC status codes from IJR's errors and back (status.ts). What both ijrd and
 * ijrctl need, and nothing of the server's services: ijrctl imports this surface only, so it
 * never loads the services, authorization or the request log (tests/e2e/cli_startup_test.ts
 * checks its module graph).
 * @module
 */

export {
  addService,
  type AddServiceOptions,
  type CallContext,
  type CallObserver,
  type CallRecord,
  type ClientCallOptions,
  type ClientMethod,
  createClient,
  EncodedResponse,
  type MethodHandler,
  methodPath,
  type ServiceClient,
  serviceDefinition,
  type ServiceHandlers,
} from "./adapter.ts";
export { RpcError, statusName, type StatusObject, toStatus } from "./status.ts";
export {
  clientCredentials,
  serverCredentials,
  TLS13_CIPHER_SUITES,
  type TlsMaterial,
} from "./tls.ts";
