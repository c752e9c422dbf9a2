import assert from "node:assert/strict";
import { rootTest } from "../helpers/root.ts";
import { sleep } from "../helpers/wait.ts";
import { resolveJobLimits } from "../../lib/cgroup/mod.ts";
import type { JobCgroupHandle } from "../../lib/cgroup/job_cgroup.ts";
import {
  cgroupHog,
  spawnInto,
  statusWithin,
  withTestController,
} from "../helpers/cgroup_support.ts";

rootTest("cgroup v1: CPU shares 512 and 1024 split a saturated machine about 1:2", async () => {
  const hog = await cgroupHog();
  // Two spinners per core in each job: every core stays busy with both jobs on it, even when
  // the load balancer moves tasks around.
  const spinners = 2 * navigator.hardwareConcurrency;
  await withTestController(async (controller) => {
    const low = await controller.create(
      "cpu-512",
      await resolveJobLimits({ cpuShares: 512 }),
    ) as JobCgroupHandle;
    const high = await controller.create(
      "cpu-1024",
      await resolveJobLimits({ cpuShares: 1024 }),
    ) as JobCgroupHandle;
    const children: Deno.ChildProcess[] = [];
    // The machine is shared with other test runs: the test's own parent cgroup gets the
    // largest weight, so their load does not decide how much time the two jobs get to split.
    const parentDir = low.dirOf("cpu")!.slice(0, low.dirOf("cpu")!.lastIndexOf("/"));
    await Deno.writeTextFile(`${parentDir}/cpu.shares`, "262144");
    try {
      for (let i = 0; i < spinners; i++) {
        children.push(spawnInto(low, [hog, "spin"]), spawnInto(high, [hog, "spin"]));
      }
      // Let every spinner join and the scheduler settle, then measure a window.
      await sleep(1_000);
      const before = [(await low.usage()).cpuNanos, (await high.usage()).cpuNanos];
      await sleep(4_000);
      const after = [(await low.usage()).cpuNanos, (await high.usage()).cpuNanos];
      const lowUsed = Number(after[0] - before[0]);
      const highUsed = Number(after[1] - before[1]);
      const ratio = highUsed / lowUsed;
      console.log(
        `CPU over 4 s: shares 512 -> ${(lowUsed / 1e9).toFixed(2)} s, ` +
          `shares 1024 -> ${(highUsed / 1e9).toFixed(2)} s, ratio ${ratio.toFixed(2)}`,
      );
      assert.ok(Math.abs(ratio - 2) <= 2 * 0.25, `CPU ratio ${ratio} is not within 25% of 2`);
    } finally {
      await low.killAll();
      await high.killAll();
      for (const child of children) {
        assert.equal((await statusWithin(child, 5_000)).signal, "SIGKILL");
      }
      await low.remove();
      await high.remove();
    }
  });
});
