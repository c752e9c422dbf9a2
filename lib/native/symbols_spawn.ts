/** Signatures of ffi/job_spawn.c. @module */

/** Job spawning. Synchronous on purpose: see spawn.ts. */
export const SPAWN_SYMBOLS = {
  ijr_spawn: { parameters: ["buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
