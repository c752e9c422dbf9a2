/** Signatures of ffi/abi.c. @module */

/** ABI identification and the round-trip probe. */
export const ABI_SYMBOLS = {
  ijr_abi_version: { parameters: [], result: "i32" },
  ijr_fnv1a64: { parameters: ["buffer", "usize"], result: "u64" },
} as const satisfies Deno.ForeignLibraryInterface;
