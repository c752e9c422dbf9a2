/** Signatures of ffi/job_spawn.c. @module */

/** Job spawning: synchronous, and the same call on the pool for jobs that outlive ijrd (spawn.ts). */
export const SPAWN_SYMBOLS = {
  ijr_spawn: { parameters: ["buffer"], result: "i32" },
  ijr_spawn_on_pool: {
    name: "ijr_spawn",
    parameters: ["buffer"],
    result: "i32",
    nonblocking: true,
  },
  // The pool's user namespaces and the jobs' seccomp filter, made once and reused.
  ijr_make_userns: { parameters: ["u32", "u32", "u32"], result: "i32" },
  ijr_seccomp_default_filter: { parameters: ["buffer", "u64"], result: "i32" },
  ijr_seccomp_policy: { parameters: ["u32", "buffer", "u64"], result: "i32" },
  // A job's network and IPC namespaces, made ahead on the pool (lib/job/namespace_pool.ts).
  ijr_make_namespaces: { parameters: ["buffer"], result: "i32", nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;
