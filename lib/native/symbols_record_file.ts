/** Signatures of ffi/record_file.c. @module */

/** Atomic small-file replacement, on Deno's blocking pool (nonblocking: a Promise). */
export const RECORD_FILE_SYMBOLS = {
  ijr_write_file_atomic: {
    parameters: ["buffer", "buffer", "buffer", "u64", "u32", "buffer", "u64", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  /** The same, on the calling thread: a pool round trip cost 0.55 ms here, the write 26 µs. */
  ijr_write_file_atomic_now: {
    name: "ijr_write_file_atomic",
    parameters: ["buffer", "buffer", "buffer", "u64", "u32", "buffer", "u64", "buffer"],
    result: "i32",
  },
  ijr_release_replaced: { parameters: ["i32"], result: "i32", nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;
