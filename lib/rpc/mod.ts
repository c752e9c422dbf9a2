/**
 * The RPC layer: protobuf-es services over grpc-js with mutual TLS.
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
export { canAccessJob, type Identity, identityFromCertificate, requireAdmin } from "./authz.ts";
export { type JobBackend, jobServiceHandlers, jobToProto } from "./job_service.ts";
export {
  type RootfsBackend,
  rootfsServiceHandlers,
  type RootfsServiceOptions,
  type RootfsSnapshot,
  rootfsToProto,
} from "./rootfs_service.ts";
export {
  requestLog,
  type RequestLogEntry,
  type RequestLogger,
  stderrLogger,
} from "./request_log.ts";
