/** Signatures of ffi/record_file.c. @module */

/** Atomic small-file replacement, on Deno's blocking pool (nonblocking: a Promise). */
export const RECORD_FILE_SYMBOLS = {
  ijr_write_file_atomic: {
    parameters: ["buffer", "buffer", "buffer", "u64", "u32", "buffer", "u64"],
    result: "i32",
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;
