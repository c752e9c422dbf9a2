/**
 * The caps on all jobs on the real cgroup v1 kernel of this host: the job parent's pids.max
 * holds a fork bomb spread over two jobs at the cap in total, and its memory limit OOM-kills
 * a job that is still under its own limit. The files read back exactly; lifting restores the
 * kernel's "no limit".
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { resolveJobLimits } from "../../lib/cgroup/mod.ts";
import type { JobCgroupHandle } from "../../lib/cgroup/job_cgroup.ts";
import { readMemTotal } from "../../lib/cgroup/host.ts";
import { PROBE_PATH } from "../helpers/busybox.ts";
import {
  cgroupHog,
  readCgroupFile,
  spawnInto,
  statusWithin,
  withTestController,
} from "../helpers/cgroup_support.ts";
import { rootTest } from "../helpers/root.ts";
import { sleep, waitFor } from "../helpers/wait.ts";

const MIB = 1024 * 1024;
/** v1's "no memory limit": the page counter's maximum with 4 KiB pages. */
const V1_UNLIMITED = "9223372036854771712\n";

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

rootTest("cgroup v1 caps: a fork bomb in two jobs stays at --max-pids 40 in total", async () => {
  await withTestController(async (controller) => {
    await controller.capAllJobs({ pids: 40 });
    // Each job keeps the default limit (1024): only the cap on all jobs can stop the bombs.
    const limits = await resolveJobLimits({});
    const jobs = [
      await controller.create("bomb-a", limits) as JobCgroupHandle,
      await controller.create("bomb-b", limits) as JobCgroupHandle,
    ];
    const parent = dirname(jobs[0].dirOf("pids")!);
    assert.equal(await readCgroupFile(parent, "pids.max"), "40\n");
    assert.deepEqual(await controller.readAllJobsCaps(), { pids: 40, memoryBytes: undefined });
    for (const job of jobs) {
      assert.equal(await readCgroupFile(job.dirOf("pids"), "pids.max"), "1024\n");
    }
    // Joining a cgroup by writing cgroup.procs is a move, which pids.max does not refuse
    // (only forks are counted against it): a bomb joining while the other already fills the
    // cap would stand at 41. So both join first and wait at a gate, then both fork at once.
    const gate = await Deno.makeTempDir({ prefix: "ijr-caps-gate-" });
    const bombs = jobs.map((job) =>
      spawnInto(job, [
        "sh",
        "-c",
        'while [ ! -e "$1/open" ]; do sleep 0.01; done; exec "$2" forkbomb',
        "sh",
        gate,
        PROBE_PATH,
      ])
    );
    let highest = 0;
    try {
      for (const [index, job] of jobs.entries()) {
        const joined = await waitFor(
          async () =>
            (await readCgroupFile(job.dirOf("pids"), "cgroup.procs")).includes(
              `${bombs[index].pid}\n`,
            ),
          5_000,
        );
        assert.ok(joined, `bomb ${index} did not join ${job.dirOf("pids")}`);
      }
      await Deno.writeTextFile(`${gate}/open`, "");
      const until = Date.now() + 2_000;
      while (Date.now() < until) {
        highest = Math.max(highest, Number(await readCgroupFile(parent, "pids.current")));
        await sleep(20);
      }
      assert.equal(highest, 40, "the bombs fill the cap exactly and go no further");
      // The kernel's own record of the highest count, where it keeps one (Linux 6.x).
      if (await exists(`${parent}/pids.peak`)) {
        assert.equal(await readCgroupFile(parent, "pids.peak"), "40\n");
      }
      // Both bombs got tasks, and the cap is shared: the two jobs hold 40 together. At the
      // cap the tasks only retry their forks, so the counts stand still while they are read.
      const counts = await Promise.all(
        jobs.map(async (job) => Number(await readCgroupFile(job.dirOf("pids"), "pids.current"))),
      );
      assert.ok(counts.every((count) => count > 0), `tasks per job: ${counts}`);
      assert.equal(counts[0] + counts[1], 40, `tasks per job: ${counts}`);
    } finally {
      for (const job of jobs) await job.killAll();
      await Deno.remove(gate, { recursive: true });
    }
    for (const bomb of bombs) assert.equal((await statusWithin(bomb, 5_000)).signal, "SIGKILL");
    // A killed task stays charged until it is reaped (the bombs' orphans by the host's init).
    assert.ok(
      await waitFor(async () => (await readCgroupFile(parent, "pids.current")) === "0\n", 5_000),
      "every task of the bombs is released within 5 s",
    );
    for (const job of jobs) await job.remove();

    // A daemon started again without --max-pids lifts the cap.
    await controller.capAllJobs({});
    assert.equal(await readCgroupFile(parent, "pids.max"), "max\n");
    assert.deepEqual(await controller.readAllJobsCaps(), {
      pids: undefined,
      memoryBytes: undefined,
    });
  });
});

rootTest(
  "cgroup v1 caps: past --max-memory 48m a job is OOM-killed under its own 128m limit",
  async () => {
    const hog = await cgroupHog();
    await withTestController(async (controller) => {
      await controller.capAllJobs({ memoryBytes: 48 * MIB });
      const limits = await resolveJobLimits({ memoryBytes: 128 * MIB });
      const small = await controller.create("under-cap", limits) as JobCgroupHandle;
      const big = await controller.create("over-cap", limits) as JobCgroupHandle;
      const parent = dirname(big.dirOf("memory")!);
      try {
        assert.equal(await readCgroupFile(parent, "memory.limit_in_bytes"), "50331648\n");
        assert.equal(await readCgroupFile(parent, "memory.memsw.limit_in_bytes"), "50331648\n");
        assert.equal(await readCgroupFile(parent, "memory.use_hierarchy"), "1\n");
        assert.deepEqual(await controller.readAllJobsCaps(), {
          pids: undefined,
          memoryBytes: 50331648,
        });
        assert.deepEqual(await controller.memoryAvailable(), {
          bytes: 50331648,
          source: parent,
        });
        assert.equal(
          await readCgroupFile(big.dirOf("memory"), "memory.limit_in_bytes"),
          "134217728\n",
        );

        // One at a time, so the cap is the only reason for a kill: 16 MiB fit under 48 ...
        const smallOut = await spawnInto(small, [hog, "alloc", "16"], { stdout: "piped" }).output();
        assert.equal(smallOut.code, 0);
        assert.equal(new TextDecoder().decode(smallOut.stdout), "allocated 16\n");
        // ... 64 MiB do not, though the job's own limit is 128.
        const bigOut = await spawnInto(big, [hog, "alloc", "64"], { stdout: "piped" }).output();
        assert.equal(bigOut.signal, "SIGKILL");
        assert.equal(new TextDecoder().decode(bigOut.stdout), "");
        assert.equal((await small.usage()).oomKilled, false);
        const bigUsage = await big.usage();
        assert.equal(bigUsage.oomKilled, true, "the kill is counted in the job's own cgroup");
        assert.ok(
          bigUsage.memoryPeakBytes > 40 * MIB && bigUsage.memoryPeakBytes <= 48 * MIB,
          `peak ${bigUsage.memoryPeakBytes} is not near the 48 MiB cap`,
        );
      } finally {
        await big.killAll();
        await small.killAll();
        await big.remove();
        await small.remove();
      }

      // Raising the cap writes memsw first (the kernel refuses memory above memsw) ...
      await controller.capAllJobs({ memoryBytes: 96 * MIB });
      assert.equal(await readCgroupFile(parent, "memory.limit_in_bytes"), "100663296\n");
      assert.equal(await readCgroupFile(parent, "memory.memsw.limit_in_bytes"), "100663296\n");
      // ... and lifting it restores the kernel's "no limit" in both.
      await controller.capAllJobs({});
      assert.equal(await readCgroupFile(parent, "memory.limit_in_bytes"), V1_UNLIMITED);
      assert.equal(await readCgroupFile(parent, "memory.memsw.limit_in_bytes"), V1_UNLIMITED);
      assert.deepEqual(await controller.readAllJobsCaps(), {
        pids: undefined,
        memoryBytes: undefined,
      });
      // Without the cap, what is available is what the cgroups above allow, at most the
      // host's memory: read here on its own from each memory.limit_in_bytes up to the root.
      let expected = { bytes: await readMemTotal(), source: "/proc/meminfo" };
      const mount = parent.slice(0, parent.indexOf("/", "/sys/fs/cgroup/".length));
      for (let dir = dirname(parent); dir.startsWith(mount); dir = dirname(dir)) {
        const limit = BigInt((await Deno.readTextFile(`${dir}/memory.limit_in_bytes`)).trim());
        if (limit < BigInt(expected.bytes)) expected = { bytes: Number(limit), source: dir };
      }
      assert.deepEqual(await controller.memoryAvailable(), expected);
    });
  },
);
