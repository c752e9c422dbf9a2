/** Signatures of ffi/extract.c: confined rootfs extraction and atomic renames. @module */

/** Confined extraction (batches run off the JavaScript thread), renameat2 and syncfs. */
export const EXTRACT_SYMBOLS = {
  ijr_extract_begin: { parameters: ["buffer", "buffer", "usize"], result: "pointer" },
  ijr_extract_batch: {
    parameters: ["pointer", "buffer", "usize", "buffer", "usize"],
    result: "i32",
    nonblocking: true,
  },
  ijr_extract_end: { parameters: ["pointer"], result: "i32" },
  ijr_rename: { parameters: ["buffer", "buffer", "u32"], result: "i32" },
  ijr_syncfs: { parameters: ["buffer"], result: "i32", nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;
