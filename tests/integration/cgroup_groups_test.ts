/**
 * The users' groups on the real cgroup v1 kernel of this host: fork bombs in two jobs of one
 * user stop at that user's group cap, under the cap on all jobs, while another user's job
 * still starts and runs to completion; a memory cap on a group OOM-kills a job of that user
 * under its own larger limit, and not the same allocation by another user; a restarted
 * daemon reopens a job in its group and removes stale jobs of both layouts (in a group, and
 * directly under the parent as before groups). Every job and group directory is gone
 * afterwards.
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { createCgroupController, resolveJobLimits, userGroupName } from "../../lib/cgroup/mod.ts";
import type { JobCgroupHandle } from "../../lib/cgroup/job_cgroup.ts";
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
const ALICE = userGroupName("alice");
const BOB = userGroupName("bob");

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** The highest pids.current each of `dirs` showed while `during` ran (sampled every 10 ms). */
async function highestWhile<T>(
  dirs: readonly string[],
  during: Promise<T>,
): Promise<{ highest: number[]; result: T }> {
  const highest = dirs.map(() => 0);
  let done = false;
  const settled = during.finally(() => done = true);
  while (!done) {
    const counts = await Promise.all(dirs.map((dir) => readCgroupFile(dir, "pids.current")));
    counts.forEach((count, index) => highest[index] = Math.max(highest[index], Number(count)));
    await Promise.race([settled.catch(() => {}), sleep(10)]);
  }
  return { highest, result: await settled };
}

rootTest(
  "cgroup v1 groups: alice's fork bombs stay at her cap 30 and bob's job still runs",
  async () => {
    assert.equal(ALICE, "user-alice-2bd806c9");
    await withTestController(async (controller) => {
      // What ijrd does with --max-pids 60 and a per-user cap of 30.
      await controller.capAllJobs({ pids: 60 });
      await controller.capEveryGroup({ pids: 30 });
      // Each job keeps the default limit (1024): only the caps can stop the bombs.
      const limits = await resolveJobLimits({});
      const bombJobs = [
        await controller.create("bomb-a", limits, ALICE) as JobCgroupHandle,
        await controller.create("bomb-b", limits, ALICE) as JobCgroupHandle,
      ];
      const group = dirname(bombJobs[0].dirOf("pids")!);
      const parent = dirname(group);
      assert.equal(group, `${controller.parentDirs.find((dir) => dir.includes("/pids"))}/${ALICE}`);
      assert.equal(await readCgroupFile(parent, "pids.max"), "60\n");
      assert.equal(await readCgroupFile(group, "pids.max"), "30\n");
      assert.deepEqual(await controller.readGroupCaps(ALICE), {
        pids: 30,
        memoryBytes: undefined,
      });
      // Moves into a cgroup are not refused by pids.max, only forks are: both bombs join
      // first and wait at a gate, so neither lands on top of a full cap.
      const gate = await Deno.makeTempDir({ prefix: "ijr-groups-gate-" });
      const bombs = bombJobs.map((job) =>
        spawnInto(job, [
          "sh",
          "-c",
          'while [ ! -e "$1/open" ]; do sleep 0.01; done; exec "$2" forkbomb',
          "sh",
          gate,
          PROBE_PATH,
        ])
      );
      let bobJob: JobCgroupHandle | undefined;
      try {
        for (const [index, job] of bombJobs.entries()) {
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
        assert.ok(
          await waitFor(
            async () => (await readCgroupFile(group, "pids.current")) === "30\n",
            5_000,
          ),
          `alice's group holds ${await readCgroupFile(group, "pids.current")} tasks, not 30`,
        );

        // Bob's job starts while alice's bombs fill her cap, forks five processes and ends.
        bobJob = await controller.create("bob-work", limits, BOB) as JobCgroupHandle;
        const bobGroup = dirname(bobJob.dirOf("pids")!);
        assert.equal(bobGroup, `${parent}/${BOB}`);
        assert.equal(await readCgroupFile(bobGroup, "pids.max"), "30\n");
        const bob = spawnInto(bobJob, [
          "sh",
          "-c",
          "for i in 1 2 3 4 5; do sleep 1 & done; wait; echo ran 5",
        ], { stdout: "piped" });
        const { highest, result: out } = await highestWhile([group, parent], bob.output());
        assert.equal(out.code, 0);
        assert.equal(new TextDecoder().decode(out.stdout), "ran 5\n");
        assert.equal(highest[0], 30, "alice's bombs stay at her cap while bob's job runs");
        assert.ok(highest[1] <= 60, `all jobs together reached ${highest[1]} tasks`);
        // The kernel's own records: bob's shell and its five sleeps, on top of alice's 30.
        if (await exists(`${group}/pids.peak`)) {
          assert.equal(await readCgroupFile(group, "pids.peak"), "30\n");
          assert.equal(await readCgroupFile(bobGroup, "pids.peak"), "6\n");
          assert.equal(await readCgroupFile(parent, "pids.peak"), "36\n");
        }
        // Both bombs got tasks, and they share alice's cap: 30 together.
        const counts = await Promise.all(
          bombJobs.map(async (job) =>
            Number(await readCgroupFile(job.dirOf("pids"), "pids.current"))
          ),
        );
        assert.ok(counts.every((count) => count > 0), `tasks per job: ${counts}`);
        assert.equal(counts[0] + counts[1], 30, `tasks per job: ${counts}`);
        // v1 counts a refused fork in the forking cgroup's pids.events, not the capped one's.
        const refused = await Promise.all(
          bombJobs.map(async (job) =>
            Number(
              (await readCgroupFile(job.dirOf("pids"), "pids.events")).match(/^max (\d+)$/m)![1],
            )
          ),
        );
        assert.ok(refused[0] + refused[1] > 0, `refused forks per job: ${refused}`);
      } finally {
        for (const job of bombJobs) await job.killAll();
        await bobJob?.killAll();
        await Deno.remove(gate, { recursive: true });
      }
      for (const bomb of bombs) assert.equal((await statusWithin(bomb, 5_000)).signal, "SIGKILL");
      // A killed task stays charged until it is reaped (the bombs' orphans by the host's init).
      assert.ok(
        await waitFor(async () => (await readCgroupFile(group, "pids.current")) === "0\n", 5_000),
        "every task of the bombs is released within 5 s",
      );
      // The group goes with its last job, in every hierarchy.
      await bombJobs[0].remove();
      for (const dir of controller.parentDirs) assert.equal(await exists(`${dir}/${ALICE}`), true);
      await bombJobs[1].remove();
      await bobJob!.remove();
      for (const dir of controller.parentDirs) {
        assert.deepEqual(
          await Array.fromAsync(Deno.readDir(dir)).then((entries) =>
            entries.filter((entry) => entry.isDirectory).map((entry) => entry.name)
          ),
          [],
          `${dir} still has cgroups`,
        );
      }
      assert.equal(await controller.readGroupCaps(ALICE), undefined);
    });
  },
);

rootTest(
  "cgroup v1 groups: past alice's 48m cap her job is OOM-killed under its 128m; bob's is not",
  async () => {
    const hog = await cgroupHog();
    await withTestController(async (controller) => {
      await controller.capGroup(ALICE, { memoryBytes: 48 * MIB });
      const limits = await resolveJobLimits({ memoryBytes: 128 * MIB });
      const small = await controller.create("alice-small", limits, ALICE) as JobCgroupHandle;
      const big = await controller.create("alice-big", limits, ALICE) as JobCgroupHandle;
      const bobs = await controller.create("bob-big", limits, BOB) as JobCgroupHandle;
      const group = dirname(big.dirOf("memory")!);
      try {
        assert.equal(await readCgroupFile(group, "memory.limit_in_bytes"), "50331648\n");
        assert.equal(await readCgroupFile(group, "memory.memsw.limit_in_bytes"), "50331648\n");
        assert.equal(await readCgroupFile(group, "memory.use_hierarchy"), "1\n");
        assert.deepEqual(await controller.readGroupCaps(ALICE), {
          pids: undefined,
          memoryBytes: 50331648,
        });
        // Bob's group has no cap of its own, and none for every group was set.
        assert.deepEqual(await controller.readGroupCaps(BOB), {
          pids: undefined,
          memoryBytes: undefined,
        });
        assert.equal(
          await readCgroupFile(big.dirOf("memory"), "memory.limit_in_bytes"),
          "134217728\n",
        );

        // One at a time, so the cap is the only reason for a kill: 16 MiB fit under 48 ...
        const smallOut = await spawnInto(small, [hog, "alloc", "16"], { stdout: "piped" }).output();
        assert.equal(smallOut.code, 0);
        assert.equal(new TextDecoder().decode(smallOut.stdout), "allocated 16\n");
        // ... 64 MiB do not, though the job's own limit is 128 ...
        const bigOut = await spawnInto(big, [hog, "alloc", "64"], { stdout: "piped" }).output();
        assert.equal(bigOut.signal, "SIGKILL");
        assert.equal(new TextDecoder().decode(bigOut.stdout), "");
        // ... while the same 64 MiB in bob's group are fine: the cap is alice's alone.
        const bobOut = await spawnInto(bobs, [hog, "alloc", "64"], { stdout: "piped" }).output();
        assert.equal(bobOut.code, 0);
        assert.equal(new TextDecoder().decode(bobOut.stdout), "allocated 64\n");
        assert.equal((await small.usage()).oomKilled, false);
        assert.equal((await bobs.usage()).oomKilled, false);
        const bigUsage = await big.usage();
        assert.equal(bigUsage.oomKilled, true, "the kill is counted in the job's own cgroup");
        assert.ok(
          bigUsage.memoryPeakBytes > 40 * MIB && bigUsage.memoryPeakBytes <= 48 * MIB,
          `peak ${bigUsage.memoryPeakBytes} is not near the 48 MiB cap`,
        );
      } finally {
        for (const job of [big, small, bobs]) await job.killAll();
        for (const job of [big, small, bobs]) await job.remove();
      }
      for (const dir of controller.parentDirs) {
        assert.equal(await exists(`${dir}/${ALICE}`), false, `${dir}/${ALICE} is left`);
        assert.equal(await exists(`${dir}/${BOB}`), false, `${dir}/${BOB} is left`);
      }
    });
  },
);

rootTest(
  "cgroup v1 groups: a restarted daemon reopens a job in its group, removes the stale ones",
  async () => {
    await withTestController(async (first) => {
      const limits = await resolveJobLimits({});
      const kept = await first.create("kept", limits, ALICE) as JobCgroupHandle;
      const stale = await first.create("stale", limits, BOB) as JobCgroupHandle;
      // A job cgroup directly under the parent, as an ijrd from before groups left it.
      const legacy = await first.create("legacy", limits) as JobCgroupHandle;
      const jobs = [kept, stale, legacy];
      const sleepers = jobs.map((job) => spawnInto(job, ["sleep", "30"]));
      try {
        // In every hierarchy before anything kills: a kill finds only the tasks already in.
        for (const [index, job] of jobs.entries()) {
          const inAll = await waitFor(async () => {
            const procs = await Promise.all(
              job.joinTaskFiles.map((file) => Deno.readTextFile(file)),
            );
            return procs.every((text) => text.includes(`${sleepers[index].pid}\n`));
          }, 5_000);
          assert.ok(inAll, `sleep ${index} did not join every cgroup of its job`);
        }
        // A second controller with the same parent plays the restarted daemon.
        const parentDir = first.parentDirs[0];
        const second = await createCgroupController({
          parent: parentDir.slice(parentDir.lastIndexOf("/") + 1),
        });
        assert.deepEqual(second.parentDirs, first.parentDirs);
        const reopened = await second.open("kept", ALICE);
        assert.deepEqual(reopened?.joinTaskFiles, kept.joinTaskFiles);
        assert.equal(await second.open("kept"), undefined, "not directly under the parent");
        assert.deepEqual(await second.removeStale(new Set(["kept"])), ["legacy", "stale"]);
        for (const index of [1, 2]) {
          assert.equal((await statusWithin(sleepers[index], 5_000)).signal, "SIGKILL");
        }
        for (const dir of second.parentDirs) {
          const names = (await Array.fromAsync(Deno.readDir(dir)))
            .filter((entry) => entry.isDirectory).map((entry) => entry.name);
          assert.deepEqual(names, [ALICE], `${dir} holds ${names}`);
          assert.equal(await exists(`${dir}/${ALICE}/kept`), true);
        }
        await reopened!.killAll();
        assert.equal((await statusWithin(sleepers[0], 5_000)).signal, "SIGKILL");
        await reopened!.remove();
        for (const dir of second.parentDirs) assert.equal(await exists(`${dir}/${ALICE}`), false);
      } finally {
        for (const job of jobs) await job.killAll();
      }
    });
  },
);
