/**
 * Root file systems: the store jobs run in (upload, list, delete, lease), with streaming,
 * atomic and kernel-confined extraction of gzipped tarballs.
 * @module
 */

export type { RootfsLease, RootfsProvider } from "./types.ts";
export {
  type RootfsInfo,
  RootfsStore,
  type RootfsStoreOptions,
  type UploadOptions,
  type UploadResult,
} from "./store.ts";
export { isValidRootfsName, ROOTFS_NAME_PATTERN, validateRootfsName } from "./names.ts";
export { DEFAULT_ROOTFS_LIMITS, resolveRootfsLimits, type RootfsLimits } from "./limits.ts";
export { type ExtractResult, extractTar, normalizeMemberPath } from "./extractor.ts";
export {
  describePath,
  type TarEntry,
  type TarEntryType,
  TarParser,
  type TarParserOptions,
  type TarSink,
} from "./tar_parser.ts";
