/** Signatures of ffi/abi.c. @module */

/** ABI identification. */
export const ABI_SYMBOLS = {
  ijr_abi_hash: { parameters: [], result: "u64" },
} as const satisfies Deno.ForeignLibraryInterface;
