/**
 * IJR, the Isolated Job Runner: the library that ijrd and ijrctl are built from.
 * Re-exports only; every concern lives in its own folder under lib/.
 *
 * - Jobs: {@link JobManager} starts isolated jobs in a rootfs, supervises, stops and streams them.
 * - Root file systems: {@link RootfsStore} uploads (streaming, confined), lists, deletes, leases.
 * - Resource control: {@link createCgroupController} for cgroup v1 or v2.
 * - RPC: the protobuf-es/grpc-js adapter, TLS and the services.
 * - Certificates: a CA, server and client certificates.
 * @module
 */

export * from "./lib/job/mod.ts";
export * from "./lib/rootfs/mod.ts";
export * from "./lib/cgroup/mod.ts";
export * from "./lib/rpc/transport/mod.ts";
export * from "./lib/rpc/services/mod.ts";
export * from "./lib/pki/mod.ts";
export * from "./lib/config/mod.ts";
export { type ErrorCode, IjrError } from "./lib/errors/mod.ts";
export { VERSION } from "./lib/version.ts";
