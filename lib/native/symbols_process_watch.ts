/** Signatures of ffi/process_watch.c. @module */

/** Adopted job inits (live restore): pidfds, their signals, one wait for all of them. */
export const PROCESS_WATCH_SYMBOLS = {
  ijr_pidfd_open: { parameters: ["i32"], result: "i32" },
  ijr_pidfd_signal: { parameters: ["i32", "i32"], result: "i32" },
  ijr_pidfd_reap: { parameters: ["i32", "buffer"], result: "i32" },
  ijr_exit_wake_make: { parameters: [], result: "i32" },
  ijr_exit_wake: { parameters: ["i32"], result: "i32" },
  // Blocks until an init ends: on a thread of Deno's blocking pool (a Promise).
  ijr_wait_exits: {
    parameters: ["buffer", "u32", "i32", "buffer"],
    result: "i32",
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;
