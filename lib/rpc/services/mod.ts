/**
 * ijrd's gRPC services over the transport (lib/rpc/transport): JobService and RootfsService
 * over the job engine and the rootfs store, who may call what (authz.ts: a caller's identity
 * from its client certificate), every request field checked before the engine sees it, and
 * the request log.
 * @module
 */

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
export { WatchLimit } from "./watch_limit.ts";
