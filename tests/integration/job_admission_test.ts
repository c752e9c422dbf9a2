/**
 * Admission on a shared worker: --max-jobs and --max-jobs-per-user refuse a start with
 * RESOURCE_EXHAUSTED naming the limit, before anything is made for it; --default-memory
 * gives every job a memory limit.
 */
import assert from "node:assert/strict";
import { JobManager } from "../../lib/job/mod.ts";
import { withManager } from "../helpers/jobs.ts";
import { rootTest } from "../helpers/root.ts";

function sleeper(manager: JobManager, owner: string) {
  return manager.start({ owner, rootfs: "busybox", argv: ["sleep", "30"] });
}

/** Job folders on disk, the one made ahead for the next start included. */
function folderCount(stateDir: string): number {
  return [...Deno.readDirSync(`${stateDir}/jobs`)].length;
}

rootTest(
  "admission: a start past --max-jobs-per-user or --max-jobs is refused and leaves nothing",
  async () => {
    await withManager(async (manager, { stateDir, rootfs }) => {
      const a1 = await sleeper(manager, "alice");
      const a2 = await sleeper(manager, "alice");
      await assert.rejects(sleeper(manager, "alice"), {
        code: "RESOURCE_EXHAUSTED",
        message: "alice already runs the limit of 2 jobs per user (--max-jobs-per-user); " +
          "try again when one ends",
      });
      const b1 = await sleeper(manager, "bob");
      await assert.rejects(sleeper(manager, "bob"), {
        code: "RESOURCE_EXHAUSTED",
        message: "ijrd already runs its limit of 3 jobs (--max-jobs); try again when one ends",
      });
      // Nothing of the refused starts: three jobs, three leases, three folders and the one
      // made ahead.
      await manager.settled();
      assert.equal(manager.list({ includeFinished: true }).length, 3);
      assert.equal(rootfs.leases.size, 3);
      assert.equal(folderCount(stateDir), 4);
      // A job's end gives its place back, to its owner and to everyone.
      await manager.stop(a1.id, { graceMs: 500 });
      const b2 = await sleeper(manager, "bob");
      await assert.rejects(sleeper(manager, "alice"), { code: "RESOURCE_EXHAUSTED" });
      await manager.stop(a2.id, { graceMs: 500 });
      const a3 = await sleeper(manager, "alice");
      for (const job of [b1, b2, a3]) await manager.stop(job.id, { graceMs: 500 });
    }, { maxJobs: 3, maxJobsPerUser: 2 });
  },
);

rootTest("admission: starts that fail give their place back", async () => {
  await withManager(async (manager) => {
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        manager.start({ owner: "alice", rootfs: "busybox", argv: ["/no/such/command"] }),
        { code: "FAILED_PRECONDITION" },
      );
    }
    const job = await sleeper(manager, "alice");
    await manager.stop(job.id, { graceMs: 500 });
  }, { maxJobs: 1, maxJobsPerUser: 1 });
});

rootTest("--default-memory: a job without a memory limit gets the worker's", async () => {
  await withManager(async (manager) => {
    const job = await manager.start({ owner: "alice", rootfs: "busybox", argv: ["true"] });
    assert.equal(job.limits.memoryBytes, 64 * 1024 * 1024);
    const asked = await manager.start({
      owner: "alice",
      rootfs: "busybox",
      argv: ["true"],
      limits: { memoryBytes: 32 * 1024 * 1024 },
    });
    assert.equal(asked.limits.memoryBytes, 32 * 1024 * 1024);
    await manager.wait(job.id);
    await manager.wait(asked.id);
  }, { defaultMemoryBytes: 64 * 1024 * 1024 });
});
