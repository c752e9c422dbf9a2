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
 * The file a write replaced, still open: freeing it (its inode and blocks) waits for
 * `release()`, so that it happens after whoever waited for the new content was answered.
 */
export class ReplacedFile {
  readonly #fd: number;
  #released = false;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** Closes it, on Deno's blocking pool: the kernel frees the file now. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await libijr().ijr_release_replaced(this.#fd);
  }
}

/**
 * Writes `bytes` to `temp` (mode `mode` when created) and renames it onto `path`; then,
 * with `reserve`, fills `reserve.path` with `reserve.bytes` bytes of spaces (room taken
 * now for a record written later). With `holdReplaced`, the file `path` named before is
 * returned still open (undefined when there was none): see ReplacedFile.
 */
export async function writeFileAtomic(
  path: string,
  temp: string,
  bytes: Uint8Array<ArrayBuffer>,
  options: WriteOptions = {},
): Promise<ReplacedFile | undefined> {
  const call = new WriteCall(path, temp, bytes, options);
  try {
    return call.outcome(await libijr().ijr_write_file_atomic(...call.arguments));
  } finally {
    // The C side reads these buffers on a pool thread until the call returns. Deno 2.9 keeps
    // a nonblocking call's buffers alive by itself; using them after the await makes it hold
    // for this code whatever the runtime does.
    call.keepAlive();
  }
}

/**
 * writeFileAtomic on the calling thread: for a write someone waits for, while the disk answers
 * quickly (a round trip through Deno's blocking pool cost 0.55 ms on this project's VM, the
 * write itself 26 µs: bench/README.md).
 */
export function writeFileAtomicNow(
  path: string,
  temp: string,
  bytes: Uint8Array<ArrayBuffer>,
  options: WriteOptions = {},
): ReplacedFile | undefined {
  const call = new WriteCall(path, temp, bytes, options);
  return call.outcome(libijr().ijr_write_file_atomic_now(...call.arguments));
}

/** Options of writeFileAtomic. */
export interface WriteOptions {
  readonly mode?: number;
  readonly reserve?: { path: string; bytes: number };
  readonly holdReplaced?: boolean;
}

/** One call's C arguments, and what its result means. */
class WriteCall {
  readonly #path: string;
  readonly #buffers: object[];
  readonly #replaced: Int32Array<ArrayBuffer> | null;
  readonly arguments: [
    Uint8Array<ArrayBuffer>,
    Uint8Array<ArrayBuffer>,
    Uint8Array<ArrayBuffer>,
    bigint,
    number,
    Uint8Array<ArrayBuffer> | null,
    bigint,
    Int32Array<ArrayBuffer> | null,
  ];

  constructor(path: string, temp: string, bytes: Uint8Array<ArrayBuffer>, options: WriteOptions) {
    const tempC = cString(temp);
    const pathC = cString(path);
    const reserveC = options.reserve ? cString(options.reserve.path) : null;
    this.#path = path;
    this.#replaced = options.holdReplaced ? new Int32Array(1) : null;
    this.#buffers = [tempC, pathC, bytes, ...(reserveC ? [reserveC] : [])];
    if (this.#replaced) this.#buffers.push(this.#replaced);
    this.arguments = [
      tempC,
      pathC,
      bytes,
      BigInt(bytes.length),
      options.mode ?? 0o640,
      reserveC,
      BigInt(options.reserve?.bytes ?? 0),
      this.#replaced,
    ];
  }

  outcome(result: number): ReplacedFile | undefined {
    if (result < 0) {
      throw new FileWriteError(-result, `cannot write ${this.#path}: ${describeErrno(-result)}`);
    }
    const fd = this.#replaced?.[0] ?? -1;
    return fd >= 0 ? new ReplacedFile(fd) : undefined;
  }

  keepAlive(): void {
    keepAlive(...this.#buffers);
  }
}
