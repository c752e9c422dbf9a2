/** Jobs under real cgroups (v1 on this host): limits in place while running, OOM, fork bomb. */
import assert from "node:assert/strict";
import { outputText, startBusybox, withManager } from "../helpers/jobs.ts";
import { rootTest } from "../helpers/root.ts";
import { parentDirsOf, withTestController } from "../helpers/cgroup_support.ts";
import { userGroupName } from "../../lib/cgroup/mod.ts";

/** The group of the helpers' jobs (owner "t"): every job's cgroup is in its owner's group. */
const GROUP = userGroupName("t");

async function cgroupFile(dirs: string[], controller: string, id: string, file: string) {
  const dir = dirs.find((d) => d.includes(`/${controller}/`) || d.includes(`/${controller},`));
  assert.ok(dir, `a ${controller} hierarchy`);
  return (await Deno.readTextFile(`${dir}/${GROUP}/${id}/${file}`)).trim();
}

rootTest(
  "cgroups: a running job's cgroup holds exactly its limits, and is removed when it ends",
  async () => {
    await withTestController(async (cgroups) => {
      await withManager(async (manager) => {
        const job = await startBusybox(manager, ["sleep", "30"], {
          limits: { cpuShares: 512, memoryBytes: 64 * 1024 * 1024, pids: 50 },
        });
        if (cgroups.version === 1) {
          const dirs = parentDirsOf(cgroups);
          assert.equal(await cgroupFile(dirs, "cpu", job.id, "cpu.shares"), "512");
          assert.equal(
            await cgroupFile(dirs, "memory", job.id, "memory.limit_in_bytes"),
            "67108864",
          );
          assert.equal(await cgroupFile(dirs, "pids", job.id, "pids.max"), "50");
          // The job's processes are in it: init and sleep.
          assert.equal(
            (await cgroupFile(dirs, "pids", job.id, "cgroup.procs")).split("\n").length,
            2,
          );
        }
        const final = await manager.stop(job.id, { graceMs: 1000 });
        assert.equal(final.state, "stopped");
        assert.ok(final.cpuNanos !== undefined && final.cpuNanos > 0n);
        // Removed after the end is reported (its rmdirs held the answer back), in the
        // background.
        for (const dir of parentDirsOf(cgroups)) {
          assert.equal(Deno.statSync(`${dir}/${GROUP}/${job.id}`).isDirectory, true);
        }
        await manager.settled();
        for (const dir of parentDirsOf(cgroups)) {
          // The job's cgroup, and with it its group (the owner's last job).
          assert.throws(() => Deno.statSync(`${dir}/${GROUP}`), Deno.errors.NotFound);
        }
      }, { cgroups });
    });
  },
);

rootTest(
  "cgroups: a job past --memory 32m ends OOM-killed; one under it is untouched",
  async () => {
    await withTestController(async (cgroups) => {
      await withManager(async (manager) => {
        // Grows a shell variable until the limit stops it.
        const hog = await startBusybox(
          manager,
          ["sh", "-c", "x=0123456789; while true; do x=$x$x; done"],
          { limits: { memoryBytes: 32 * 1024 * 1024 } },
        );
        const oom = await manager.wait(hog.id);
        assert.deepEqual([oom.state, oom.signal, oom.oomKilled], ["killed", 9, true]);
        assert.equal(oom.message, "killed by the kernel's OOM killer (memory limit)");
        assert.ok(
          oom.memoryPeakBytes! > 16 * 1024 * 1024 && oom.memoryPeakBytes! <= 33 * 1024 * 1024,
        );

        const fine = await startBusybox(manager, [
          "sh",
          "-c",
          "x=$(head -c 1000000 /dev/zero | tr '\\0' a); echo ${#x}",
        ], { limits: { memoryBytes: 32 * 1024 * 1024 } });
        const ok = await manager.wait(fine.id);
        assert.deepEqual([ok.state, ok.exitCode, ok.oomKilled], ["exited", 0, false]);
        assert.equal(await outputText(manager, fine.id), "1000000\n");
      }, { cgroups });
    });
  },
);

rootTest(
  "cgroups: files a job writes to its memory scratch count against its memory limit",
  async () => {
    await withTestController(async (cgroups) => {
      await withManager(async (manager) => {
        // 64 MiB of files under a 32 MiB limit, with a 1 GiB scratch: the memory limit,
        // not the scratch size, is what stops it.
        const writer = await startBusybox(manager, [
          "sh",
          "-c",
          'dd if=/dev/zero of=/big bs=1048576 count=64 2>/dev/null; echo "dd: $?"',
        ], { limits: { memoryBytes: 32 * 1024 * 1024 } });
        const final = await manager.wait(writer.id);
        // The OOM killer took dd (137 = 128 + SIGKILL); the shell survived to say so.
        assert.deepEqual([final.state, final.exitCode, final.oomKilled], ["exited", 0, true]);
        assert.equal(await outputText(manager, writer.id), "dd: 137\n");
      }, { cgroups, scratch: { on: "memory", sizeBytes: 1024 ** 3 } });
    });
  },
);

rootTest("cgroups: a fork bomb under pids 64 stays at 64 tasks and stop cleans it up", async () => {
  await withTestController(async (cgroups) => {
    await withManager(async (manager) => {
      const bomb = await startBusybox(manager, ["/bin/probe", "forkbomb"], {
        limits: { pids: 64 },
      });
      await new Promise((r) => setTimeout(r, 1500));
      if (cgroups.version === 1) {
        const dirs = parentDirsOf(cgroups);
        const current = Number(await cgroupFile(dirs, "pids", bomb.id, "pids.current"));
        assert.equal(current, 64);
      }
      const final = await manager.stop(bomb.id, { graceMs: 300 });
      assert.equal(final.state, "stopped");
      await manager.settled();
      for (const dir of parentDirsOf(cgroups)) {
        assert.throws(() => Deno.statSync(`${dir}/${GROUP}`), Deno.errors.NotFound);
      }
    }, { cgroups });
  });
});
