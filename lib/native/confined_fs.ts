/**
 * Creating a root file system's entries under a new root through libijr (ffi/extract.c),
 * where every path is resolved by the kernel with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS), so nothing an archive says can reach outside the root.
 *
 * Entries are queued as records in a batch buffer and applied one batch per FFI call on
 * Deno's blocking-thread pool: JavaScript decompresses and parses the next batch while the
 * kernel writes the previous one, and the per-entry FFI cost disappears. Two buffers
 * alternate, so at most one batch is being written while the other fills.
 * @module
 */

import { abiConstant, enumValue, structLayout } from "./abi.ts";
import { describeErrno } from "./errno.ts";
import { cString } from "./libc.ts";
import { libijr } from "./loader.ts";

/** Owner, permission bits (with setuid/setgid/sticky) and modification time of an entry. */
export interface EntryMeta {
  /** Permission bits, 0o7777 at most. */
  mode: number;
  /** Owner user ID. */
  uid: number;
  /** Owner group ID. */
  gid: number;
  /** Seconds of the modification time since the epoch (may be negative). */
  mtimeSec: number;
  /** Nanoseconds of the modification time, 0..999999999. */
  mtimeNsec: number;
}

/** A failed native file operation: errno plus a message naming the path. */
export class ConfinedFsError extends Error {
  /** The errno value (positive), e.g. 17 for EEXIST. */
  readonly errno: number;

  constructor(errno: number, message: string) {
    super(message);
    this.name = "ConfinedFsError";
    this.errno = errno;
  }
}

/** Record operations (enum ijr_extract_op). */
const OP = {
  dir: enumValue("ijr_extract_op", "dir"),
  file: enumValue("ijr_extract_op", "file"),
  data: enumValue("ijr_extract_op", "data"),
  fileEnd: enumValue("ijr_extract_op", "file_end"),
  symlink: enumValue("ijr_extract_op", "symlink"),
  hardlink: enumValue("ijr_extract_op", "hardlink"),
  dirTime: enumValue("ijr_extract_op", "dir_time"),
} as const;

/** Where each field of a record's header lies (struct ijr_extract_record). */
const HEADER = structLayout("ijr_extract_record");
const AT = HEADER.offsets;
const HEADER_BYTES = HEADER.size;
/** IJR_EXTRACT_PATH_MAX: the longest path or link target a record may carry. */
export const CONFINED_PATH_MAX: number = abiConstant("IJR_EXTRACT_PATH_MAX");
const ERROR_BYTES = 1024;
const NO_META: EntryMeta = { mode: 0, uid: 0, gid: 0, mtimeSec: 0, mtimeNsec: 0 };

const decoder = new TextDecoder();

function messageOf(error: Uint8Array): string {
  const end = error.indexOf(0);
  return decoder.decode(end < 0 ? error : error.subarray(0, end));
}

/** One buffer of records; grows when a record does not fit. */
class Batch {
  bytes: Uint8Array<ArrayBuffer>;
  view: DataView;
  length = 0;
  /** Offset of the last record's header when it is DATA, so more data extends it. */
  lastData = -1;
  readonly error = new Uint8Array(ERROR_BYTES);

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
  }

  reset(): void {
    this.length = 0;
    this.lastData = -1;
  }

  reserve(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(needed, this.bytes.length * 2));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  record(op: number, path: Uint8Array, link: Uint8Array, meta: EntryMeta, data?: Uint8Array) {
    const dataLength = data?.length ?? 0;
    this.reserve(HEADER_BYTES + path.length + link.length + dataLength);
    const view = this.view;
    const at = this.length;
    view.setUint32(at + AT.op, op, true);
    view.setUint32(at + AT.path_len, path.length, true);
    view.setUint32(at + AT.link_len, link.length, true);
    view.setUint32(at + AT.mode, meta.mode, true);
    view.setUint32(at + AT.uid, meta.uid, true);
    view.setUint32(at + AT.gid, meta.gid, true);
    view.setUint32(at + AT.mtime_nsec, meta.mtimeNsec, true);
    view.setUint32(at + AT.reserved, 0, true);
    view.setBigInt64(at + AT.mtime_sec, BigInt(meta.mtimeSec), true);
    view.setBigUint64(at + AT.data_len, BigInt(dataLength), true);
    let offset = at + HEADER_BYTES;
    this.bytes.set(path, offset);
    offset += path.length;
    this.bytes.set(link, offset);
    offset += link.length;
    if (data) this.bytes.set(data, offset);
    this.length = offset + dataLength;
    this.lastData = op === OP.data ? at : -1;
  }

  /** Appends data to the DATA record that ends the buffer. */
  extendData(data: Uint8Array): void {
    this.reserve(data.length);
    const lengthAt = this.lastData + AT.data_len;
    this.view.setBigUint64(
      lengthAt,
      this.view.getBigUint64(lengthAt, true) + BigInt(data.length),
      true,
    );
    this.bytes.set(data, this.length);
    this.length += data.length;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Writes entries into a root directory, confined to it by the kernel. Use: `open`, then
 * entry calls in archive order with `flush()` awaited whenever `bufferedBytes` grows past
 * the caller's batch size, then `close()` (or `abort()` on failure: always one of them).
 * A native error surfaces as a ConfinedFsError from the next `flush()` or `close()`.
 */
export class ConfinedWriter {
  #handle: Deno.PointerValue;
  #current: Batch;
  #spare: Batch;
  #inflight: Promise<void> | undefined;
  #failure: ConfinedFsError | undefined;
  #ended = false;

  private constructor(handle: Deno.PointerValue, batchCapacity: number) {
    this.#handle = handle;
    this.#current = new Batch(batchCapacity);
    this.#spare = new Batch(batchCapacity);
  }

  /** Starts writing into rootPath, an existing directory (normally empty). */
  static open(rootPath: string, options: { batchCapacity?: number } = {}): ConfinedWriter {
    const error = new Uint8Array(ERROR_BYTES);
    const handle = libijr().ijr_extract_begin(cString(rootPath), error, BigInt(error.length));
    if (handle === null) throw new ConfinedFsError(0, messageOf(error));
    return new ConfinedWriter(handle, options.batchCapacity ?? 1 << 20);
  }

  /** Bytes queued and not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.#current.length;
  }

  /** Creates a directory (or keeps an existing one) with owner and mode; an empty path is
   * the root itself. Its mtime must be set with `setDirTime` after its children exist. */
  mkdir(path: Uint8Array, meta: EntryMeta): void {
    this.#current.record(OP.dir, path, EMPTY, meta);
  }

  /** Creates a regular file; its bytes follow with `write`, then `endFile` sets owner, mode
   * and mtime. A non-directory already at that path is replaced. */
  createFile(path: Uint8Array, meta: EntryMeta): void {
    this.#current.record(OP.file, path, EMPTY, meta);
  }

  /** Appends bytes to the file being created (copied: the caller may reuse its buffer). */
  write(data: Uint8Array): void {
    if (data.length === 0) return;
    if (this.#current.lastData >= 0) this.#current.extendData(data);
    else this.#current.record(OP.data, EMPTY, EMPTY, NO_META, data);
  }

  /** Finishes the file being created. */
  endFile(): void {
    this.#current.record(OP.fileEnd, EMPTY, EMPTY, NO_META);
  }

  /** Creates a symlink whose target is stored exactly as given. */
  symlink(path: Uint8Array, target: Uint8Array, meta: EntryMeta): void {
    this.#current.record(OP.symlink, path, target, meta);
  }

  /** Creates a hard link to target, a path already extracted inside the root. */
  hardlink(path: Uint8Array, target: Uint8Array): void {
    this.#current.record(OP.hardlink, path, target, NO_META);
  }

  /** Sets a directory's mtime (done last: creating children changes it). */
  setDirTime(path: Uint8Array, mtimeSec: number, mtimeNsec: number): void {
    this.#current.record(OP.dirTime, path, EMPTY, { ...NO_META, mtimeSec, mtimeNsec });
  }

  /**
   * Hands the queued records to the kernel. Returns once the previous batch is done and this
   * one has started, so parsing continues while it is written; throws the previous batch's
   * error, if any.
   */
  async flush(): Promise<void> {
    await this.#settle();
    if (this.#current.length === 0) return;
    const batch = this.#current;
    this.#current = this.#spare;
    this.#current.reset();
    this.#spare = batch;
    this.#inflight = this.#apply(batch);
  }

  /** Writes everything queued, waits for it, and releases the native state. */
  async close(): Promise<void> {
    try {
      await this.flush();
      await this.#settle();
    } finally {
      await this.abort();
    }
  }

  /** Waits for a running batch (ignoring its error) and releases the native state without
   * writing what is still queued. Idempotent. */
  async abort(): Promise<void> {
    if (this.#ended) return;
    await this.#inflight;
    this.#ended = true;
    const rc = libijr().ijr_extract_end(this.#handle);
    if (rc < 0 && !this.#failure) {
      throw new ConfinedFsError(-rc, `closing the extracted file failed: ${describeErrno(-rc)}`);
    }
  }

  async #settle(): Promise<void> {
    if (this.#ended) throw new Error("ConfinedWriter used after close");
    if (this.#inflight) {
      const inflight = this.#inflight;
      this.#inflight = undefined;
      await inflight;
    }
    if (this.#failure) throw this.#failure;
  }

  /** Runs one batch; the failure is kept, not thrown, so no rejection goes unhandled. */
  async #apply(batch: Batch): Promise<void> {
    const rc = await libijr().ijr_extract_batch(
      this.#handle,
      batch.bytes.subarray(0, batch.length),
      BigInt(batch.length),
      batch.error,
      BigInt(batch.error.length),
    );
    if (rc < 0) this.#failure ??= new ConfinedFsError(-rc, messageOf(batch.error));
  }
}

/** renameat2 flags. */
export const RENAME_NOREPLACE = 1;
/** renameat2 flag: swap the two paths atomically. */
export const RENAME_EXCHANGE = 2;

/** renameat2(from, to, flags): throws ConfinedFsError with the errno on failure. */
export function renamePath(from: string, to: string, flags: number): void {
  const rc = libijr().ijr_rename(cString(from), cString(to), flags);
  if (rc < 0) {
    throw new ConfinedFsError(-rc, `rename ${from} -> ${to} failed: ${describeErrno(-rc)}`);
  }
}

/** syncfs() on the file system holding path (off the JavaScript thread). */
export async function syncFileSystem(path: string): Promise<void> {
  const rc = await libijr().ijr_syncfs(cString(path));
  if (rc < 0) throw new ConfinedFsError(-rc, `syncfs ${path} failed: ${describeErrno(-rc)}`);
}
