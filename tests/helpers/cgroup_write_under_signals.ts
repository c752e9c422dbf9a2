/**
 * Writes a cgroup file many times through ijrd's cgroupfs (lib/cgroup/fs.ts) and prints how
 * many writes failed and why: "<written> written, <failed> failed[: <first error>]". Run with
 * V8's sampling profiler on (`--v8-flags=--prof`), which signals this thread every
 * millisecond, so that writes the kernel breaks off with EINTR happen
 * (tests/integration/cgroup_eintr_test.ts).
 *
 * Usage: cgroup_write_under_signals.ts <file> <value> <count>
 * @module
 */
import { hostCgroupFs, writeCgroupFile } from "../../lib/cgroup/fs.ts";

const [file, value, count] = Deno.args;
let written = 0;
let failed = 0;
let firstError = "";
for (let i = 0; i < Number(count); i++) {
  try {
    await writeCgroupFile(hostCgroupFs, file, value);
    written++;
  } catch (error) {
    failed++;
    firstError ||= (error as Error).message;
  }
}
console.log(`${written} written, ${failed} failed${firstError ? `: ${firstError}` : ""}`);
