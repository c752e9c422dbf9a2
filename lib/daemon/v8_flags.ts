/**
 * The V8 flags ijrd runs with: `make build` compiles them into the ijrd binary, and from
 * source (`deno run --v8-flags=... daemon.ts`, the tests, the demo) they are given the same.
 *
 * `--max-semi-space-size=4` (MiB): V8's young generation otherwise grows to 16 MiB per
 * semi-space under allocation pressure and keeps it. Starting and ending jobs allocates a
 * lot of short-lived garbage (gRPC calls, records, cgroup writes), so without the cap ijrd's
 * RSS with 1000 running jobs was 159 MiB; with it, 112 MiB, and 97 MiB with 11,000 finished
 * jobs retained (bench/daemon_memory_bench.ts, bench/README.md).
 * @module
 */

/** The flags, each as `deno --v8-flags` takes them (joined with commas). */
export const IJRD_V8_FLAGS: readonly string[] = ["--max-semi-space-size=4"];

if (import.meta.main) console.log(IJRD_V8_FLAGS.join(","));
