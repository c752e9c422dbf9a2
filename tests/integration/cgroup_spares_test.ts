/**
 * Job cgroups made ahead, on this host's real cgroup v1 kernel: after a user's job is created a
 * spare appears in that user's group in every hierarchy; the next job's cgroup is that spare
 * renamed, its limits are the job's own and in force (a fork bomb stops at its pids.max, an
 * allocation past its memory limit is OOM-killed and counted), and its counters start at zero,
 * as a new cgroup's do; the emptied group lingers with its spare and goes at shutdown; a restarted
 * daemon kills whatever an earlier run's spare holds and removes it, reporting no job. The
 * rules of the kernel's rename are checked against the v1 test double in
 * tests/unit/cgroup_v1_spares_test.ts.
 */
import assert from "node:assert/strict";
import { basename, dirname } from "node:path";
import { createCgroupController, resolveJobLimits, userGroupName } from "../../lib/cgroup/mod.ts";
import type { JobCgroupHandle } from "../../lib/cgroup/job_cgroup.ts";
import {
  cgroupHog,
  readCgroupFile,
  spawnInto,
  withTestController,
} from "../helpers/cgroup_support.ts";
import { rootTest } from "../helpers/root.ts";
import { waitFor } from "../helpers/wait.ts";

const MIB = 1024 * 1024;
const ALICE = userGroupName("alice");
const SPARE = /^spare-[0-9a-f]{12}$/;

function childrenOf(dir: string): string[] {
  return [...Deno.readDirSync(dir)].filter((entry) => entry.isDirectory).map((e) => e.name)
    .sort();
}

rootTest(
  "cgroup v1 spares: a job in a renamed spare has its own limits, in force, from zero",
  async () => {
    const hog = await cgroupHog();
    await withTestController(async (controller) => {
      if (controller.version !== 1) return; // cgroup2 renames no cgroup: nothing is made ahead
      const first = await controller.create("job-1", await resolveJobLimits({}), ALICE);
      const groups = controller.parentDirs.map((dir) => `${dir}/${ALICE}`);
      let spare = "";
      assert.ok(
        await waitFor(() => {
          const names = groups.map((group) => childrenOf(group).join(" "));
          spare = childrenOf(groups[0]).find((name) => SPARE.test(name)) ?? "";
          return Promise.resolve(names.every((line) => line === `job-1 ${spare}`));
        }, 2_000),
        `no spare beside job-1 in every hierarchy: ${groups.map(childrenOf).join("; ")}`,
      );

      const limits = await resolveJobLimits({ memoryBytes: 32 * MIB, pids: 16 });
      const job = await controller.create("job-2", limits, ALICE) as JobCgroupHandle;
      try {
        for (const group of groups) {
          assert.ok(!childrenOf(group).includes(spare), `${group}/${spare} is still there`);
          assert.ok(childrenOf(group).includes("job-2"), `${group}/job-2 is missing`);
        }
        assert.equal(dirname(job.dirOf("memory")!), groups.find((g) => g.includes("/memory"))!);
        assert.equal(
          await readCgroupFile(job.dirOf("memory"), "memory.limit_in_bytes"),
          "33554432\n",
        );
        assert.equal(await readCgroupFile(job.dirOf("pids"), "pids.max"), "16\n");
        assert.equal(await readCgroupFile(job.dirOf("cpu"), "cpu.shares"), "1024\n");
        // Nothing ever ran in it before the job.
        assert.equal(await readCgroupFile(job.dirOf("cpuacct"), "cpuacct.usage"), "0\n");
        assert.equal(await readCgroupFile(job.dirOf("memory"), "memory.max_usage_in_bytes"), "0\n");
        assert.equal(await readCgroupFile(job.dirOf("pids"), "pids.current"), "0\n");

        // The limits hold: 64 MiB past the 32 MiB limit are OOM-killed, and counted there.
        const out = await spawnInto(job, [hog, "alloc", "64"], { stdout: "piped" }).output();
        assert.equal(out.signal, "SIGKILL");
        const usage = await job.usage();
        assert.equal(usage.oomKilled, true);
        assert.ok(
          usage.memoryPeakBytes > 24 * MIB && usage.memoryPeakBytes <= 32 * MIB,
          `peak ${usage.memoryPeakBytes} is not near the 32 MiB limit`,
        );
        // ... and a fork bomb stays at pids.max 16.
        const bomb = spawnInto(job, [hog, "forkbomb"]);
        let highest = 0;
        await waitFor(async () => {
          highest = Math.max(
            highest,
            Number(await readCgroupFile(job.dirOf("pids"), "pids.current")),
          );
          return highest >= 16;
        }, 5_000);
        assert.equal(highest, 16);
        await job.killAll();
        await bomb.status;
      } finally {
        await job.killAll();
        await job.remove();
        await first.remove();
      }
      // No job left: alice's group stays, with a spare for her next job, until shutdown.
      for (const group of groups) {
        const names = childrenOf(group);
        assert.equal(names.length, 1, `${group} holds ${names.join(", ")}`);
        assert.match(names[0], SPARE);
      }
      await controller.removeEmptyParents();
      for (const group of groups) {
        assert.equal(await Deno.lstat(group).then(() => true, () => false), false, `${group} left`);
      }
    }, { groupLingerMs: 60_000 });
  },
);

rootTest(
  "cgroup v1 spares: a restarted daemon kills what an earlier run's spare holds, removes it, reports no job",
  async () => {
    await withTestController(async (controller) => {
      if (controller.version !== 1) return;
      const job = await controller.create("job-1", await resolveJobLimits({}), ALICE);
      const groups = controller.parentDirs.map((dir) => `${dir}/${ALICE}`);
      let spare = "";
      assert.ok(
        await waitFor(() => {
          spare = childrenOf(groups[0]).find((name) => SPARE.test(name)) ?? "";
          return Promise.resolve(
            spare !== "" && groups.every((group) => childrenOf(group).includes(spare)),
          );
        }, 2_000),
        "no spare was made",
      );
      // IJR never puts a task into a spare; a crash half-way or a hand could. The next run's
      // sweep must not fail on it (an rmdir of a cgroup with a task is refused).
      const joins = groups.map((group) => `echo 0 > ${group}/${spare}/tasks`).join(" && ");
      const squatter = new Deno.Command("sh", { args: ["-c", `${joins} && exec sleep 60`] })
        .spawn();
      try {
        assert.ok(
          await waitFor(async () => {
            const procs = await Deno.readTextFile(`${groups[0]}/${spare}/cgroup.procs`);
            return procs.trim() === String(squatter.pid);
          }, 2_000),
          "the squatter did not join the spare",
        );
        const restarted = await createCgroupController({
          parent: basename(controller.parentDirs[0]),
        });
        assert.deepEqual(await restarted.removeStale(new Set(["job-1"])), []);
        assert.equal((await squatter.status).signal, "SIGKILL");
        for (const group of groups) assert.deepEqual(childrenOf(group), ["job-1"]);
      } finally {
        try {
          squatter.kill("SIGKILL");
        } catch { /* ended */ }
        await squatter.status;
        await job.remove();
      }
    }, { groupLingerMs: 60_000 });
  },
);
