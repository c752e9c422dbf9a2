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
import { libijr } from "./loader.ts";

/** Writes `bytes` to `temp` (mode `mode` when created) and renames it onto `path`. */
export async function writeFileAtomic(
  path: string,
  temp: string,
  bytes: Uint8Array<ArrayBuffer>,
  mode = 0o640,
): Promise<void> {
  const tempC = cString(temp);
  const pathC = cString(path);
  let result: number;
  try {
    result = await libijr().ijr_write_file_atomic(
      tempC,
      pathC,
      bytes,
      BigInt(bytes.length),
      mode,
    );
  } finally {
    // The C side reads these buffers on a pool thread until the call returns. Deno 2.9 keeps
    // a nonblocking call's buffers alive by itself; using them after the await makes it hold
    // for this code whatever the runtime does.
    keepAlive(tempC, pathC, bytes);
  }
  if (result < 0) {
    throw new Error(`cannot write ${path}: ${describeErrno(-result)}`);
  }
}

const alive = new WeakSet<object>();

function keepAlive(...buffers: object[]): void {
  for (const buffer of buffers) alive.add(buffer);
}
