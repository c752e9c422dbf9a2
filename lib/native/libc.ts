/**
 * The C library functions IJR calls directly. libc is always present on a glibc worker, so
 * this is what bootstraps everything else: memfd_create to load libijr.so from bytes.
 * @module
 */

const LIBC_SYMBOLS = {
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  // Reaping job inits: only ever for a known pid, with WNOHANG, so Deno's own children
  // (Deno.Command) are never taken from it and no thread blocks.
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  // ijrd's start-up: every descriptor it inherited becomes close-on-exec.
  close_range: { parameters: ["u32", "u32", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  getpid: { parameters: [], result: "i32" },
  // Output limits: one inotify instance for all running jobs (lib/native/inotify.ts).
  inotify_init1: { parameters: ["i32"], result: "i32" },
  inotify_add_watch: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  inotify_rm_watch: { parameters: ["i32", "i32"], result: "i32" },
  // The events of that instance, read without blocking.
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened C library. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let libc: Libc | undefined;

/** Opens the C library once per process. */
export function openLibc(): Libc {
  libc ??= Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  return libc;
}

/** The calling thread's errno, read right after a failed libc call. */
export function lastErrno(): number {
  const pointer = openLibc().__errno_location();
  if (pointer === null) return 0;
  return new Deno.UnsafePointerView(pointer).getInt32();
}

/** A NUL-terminated copy of a string, for `const char *` parameters. */
export function cString(value: string): Uint8Array<ArrayBuffer> {
  const encoded = new TextEncoder().encode(value);
  const buffer = new Uint8Array(encoded.length + 1);
  buffer.set(encoded);
  return buffer;
}
