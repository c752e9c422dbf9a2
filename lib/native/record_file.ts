/**
 * Replacing a small file atomically (temp file + rename) in one native call on Deno's
 * blocking pool (ffi/record_file.c). Deno's own async file API takes four round trips
 * through the pool for the same (open, write, close, rename), and the JavaScript thread must
 * run between each: while it is busy, say spawning a job, the write stalls after its first
 * step. Measured on a job's first record: 0.4 ms of the start's path.
 * @module
 */

import { describeErrno } from "./errno.ts";
import { cString } from "./libc.ts";
import { keepAlive } from "./keep_alive.ts";
import { libijr } from "./loader.ts";

/** A failed native file write: the errno, and a message naming the file. */
export class FileWriteError extends Error {
  /** The errno value (positive), such as 28 for ENOSPC. */
  readonly errno: number;

  constructor(errno: number, message: string) {
    super(message);
    this.name = "FileWriteError";
    this.errno = errno;
  }
}

/**
 * Writes `bytes` to `temp` (mode `mode` when created) and renames it onto `path`; then,
 * with `reserve`, fills `reserve.path` with `reserve.bytes` bytes of spaces (room taken
 * now for a record written later).
 */
export async function writeFileAtomic(
  path: string,
  temp: string,
  bytes: Uint8Array<ArrayBuffer>,
  options: { mode?: number; reserve?: { path: string; bytes: number } } = {},
): Promise<void> {
  const tempC = cString(temp);
  const pathC = cString(path);
  const reserveC = options.reserve ? cString(options.reserve.path) : null;
  let result: number;
  try {
    result = await libijr().ijr_write_file_atomic(
      tempC,
      pathC,
      bytes,
      BigInt(bytes.length),
      options.mode ?? 0o640,
      reserveC,
      BigInt(options.reserve?.bytes ?? 0),
    );
  } finally {
    // The C side reads these buffers on a pool thread until the call returns. Deno 2.9 keeps
    // a nonblocking call's buffers alive by itself; using them after the await makes it hold
    // for this code whatever the runtime does.
    keepAlive(tempC, pathC, bytes, ...(reserveC ? [reserveC] : []));
  }
  if (result < 0) {
    throw new FileWriteError(-result, `cannot write ${path}: ${describeErrno(-result)}`);
  }
}
