/**
 * A memory limit write the kernel breaks off with EINTR is written again, not reported as a
 * failed start. The memory controller's resize loop returns EINTR whenever a signal is
 * pending for the writer (a job's init ending, a profiler's tick), and ijrd turned that into
 * an INTERNAL "cannot write" for StartJob. Here V8's sampling profiler signals the writing
 * thread every millisecond while 3000 writes go through ijrd's cgroupfs; before the retry,
 * 8-12 of them failed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveJobLimits } from "../../lib/cgroup/mod.ts";
import type { JobCgroupHandle } from "../../lib/cgroup/job_cgroup.ts";
import { withTestController } from "../helpers/cgroup_support.ts";
import { REPO } from "../helpers/cli.ts";
import { rootTest } from "../helpers/root.ts";

const WRITES = 3000;

rootTest("cgroup: memory limit writes interrupted by signals are written again", async () => {
  await withTestController(async (controller) => {
    const limits = await resolveJobLimits({ memoryBytes: 64 * 1024 * 1024 });
    const job = await controller.create("eintr-1", limits) as JobCgroupHandle;
    const memory = job.dirOf("memory");
    assert.ok(memory, "the job has a memory cgroup");
    const file = join(memory, controller.version === 1 ? "memory.limit_in_bytes" : "memory.max");
    const profileLog = await Deno.makeTempFile({ prefix: "ijr-eintr-v8-" });
    try {
      const output = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          `--v8-flags=--prof,--logfile=${profileLog},--no-logfile-per-isolate`,
          join(REPO, "tests/helpers/cgroup_write_under_signals.ts"),
          file,
          String(64 * 1024 * 1024),
          String(WRITES),
        ],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      assert.equal(new TextDecoder().decode(output.stdout).trim(), `${WRITES} written, 0 failed`);
      assert.equal(output.code, 0);
    } finally {
      await Deno.remove(profileLog);
    }
    assert.equal((await Deno.readTextFile(file)).trim(), String(64 * 1024 * 1024));
    await job.remove();
  });
});
