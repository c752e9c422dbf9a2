/**
 * Live restore on the cgroup v2 kernel: a manager's shutdown leaves its jobs running in their
 * cgroups (CLONE_INTO_CGROUP, a cgroup namespace each), and the next manager over the same
 * state folder finds the running init in its job's cgroup and adopts it, and records the end
 * of a job that ended meanwhile from its end file and its cgroup (memory.events, cpu.stat).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createCgroupController } from "../../lib/cgroup/mod.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import { JobManager } from "../../lib/job/mod.ts";
import { busyboxRootfsDir } from "../helpers/busybox.ts";
import { reapEndedInits } from "../helpers/orphans.ts";
import { v2Test, waitFor } from "./guest.ts";

v2Test(
  "live restore: the next manager adopts a running job and records one that ended",
  async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "ijr-v2-restore-" });
    const path = await busyboxRootfsDir();
    const rootfs = {
      acquire(name: string) {
        if (name !== "busybox") throw new IjrError("NOT_FOUND", `rootfs ${name} not found`);
        return { name, path, release() {} };
      },
    };
    const cgroups = await createCgroupController();
    const options = { stateDir, rootfs, cgroups, liveRestore: true };
    let second: JobManager | undefined;
    try {
      const first = await JobManager.open(options);
      const start = (argv: string[]) => first.start({ owner: "v2-lane", rootfs: "busybox", argv });
      const sleeper = await start(["sleep", "60"]);
      const oom = await first.start({
        owner: "v2-lane",
        rootfs: "busybox",
        argv: ["sh", "-c", "sleep 0.3; x=0123456789; while true; do x=$x$x; done"],
        limits: { memoryBytes: 16 * 1024 * 1024 },
      });
      await first.shutdown();
      // The OOM kill happens while no manager watches.
      await new Promise((resolve) => setTimeout(resolve, 1500));

      second = await JobManager.open(options);
      deepStrictEqual(second.list().map((job) => [job.id, job.state, job.pid]), [
        [sleeper.id, "running", sleeper.pid],
      ]);
      const killed = second.get(oom.id)!;
      deepStrictEqual([killed.state, killed.signal, killed.oomKilled, killed.message], [
        "killed",
        9,
        true,
        "killed by the kernel's OOM killer (memory limit)",
      ]);
      ok(killed.memoryPeakBytes! > 8 * 1024 * 1024, `peak ${killed.memoryPeakBytes}`);

      const stopped = await second.stop(sleeper.id, { graceMs: 1000 });
      deepStrictEqual([stopped.state, stopped.signal], ["stopped", 15]);
      // Its init is this process's child (reaped with the adoption); the one that ended
      // unwatched is reaped here. No job cgroup is left.
      strictEqual(reapEndedInits(), 0);
      for (const dir of cgroups.parentDirs) {
        ok(
          await waitFor(async () => {
            for await (const entry of Deno.readDir(dir)) if (entry.isDirectory) return false;
            return true;
          }, 5000),
          `job cgroups left in ${dir}`,
        );
      }
    } finally {
      await second?.shutdown();
      await Deno.remove(stateDir, { recursive: true });
    }
  },
);
