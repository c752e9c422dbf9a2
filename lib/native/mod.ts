/**
 * The native layer: the only code that opens libijr.so or libc through Deno FFI.
 * @module
 */

export { abiConstant, structLayout } from "./abi.ts";
export { dlopenFromBytes, libijr, readLibijrBytes } from "./loader.ts";
export { cString, lastErrno, openLibc } from "./libc.ts";
export { markInheritedDescriptorsCloseOnExec } from "./descriptors.ts";
export type { LibijrSymbols } from "./symbols.ts";
export {
  defaultSeccompFilter,
  makeUserNamespace,
  SECCOMP_ARCHES,
  seccompPolicy,
} from "./userns.ts";
export { closeJobNamespaces, type JobNamespaces, makeJobNamespaces } from "./namespaces.ts";
export { closeDescriptor, ExitWatch, openPidfd, reapPidfd, signalPidfd } from "./process_watch.ts";
export {
  type CommandStatus,
  parseCommandStatus,
  readCommandStatus,
  reapIfEnded,
  signalProcess,
  type SpawnedJob,
  spawnJob,
  spawnJobOnPool,
  type SpawnSpec,
  type WaitResult,
} from "./spawn.ts";
export {
  CONFINED_PATH_MAX,
  ConfinedFsError,
  ConfinedWriter,
  type EntryMeta,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  renamePath,
  syncFileSystem,
} from "./confined_fs.ts";
export { OneShotWatches } from "./inotify.ts";
export { ReplacedFile, writeFileAtomic, writeFileAtomicNow } from "./record_file.ts";
