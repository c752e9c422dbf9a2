import assert from "node:assert/strict";
import { rootTest } from "../helpers/root.ts";
import { createCgroupController, resolveJobLimits } from "../../lib/cgroup/mod.ts";
import type { JobCgroupHandle } from "../../lib/cgroup/job_cgroup.ts";
import {
  cgroupHog,
  readCgroupFile,
  rootDisk,
  spawnInto,
  statusWithin,
  testController,
  withTestController,
} from "../helpers/cgroup_support.ts";

const MIB = 1024 * 1024;

async function pidsIn(file: string): Promise<number[]> {
  return (await Deno.readTextFile(file)).split("\n").filter((line) => line !== "").map(Number);
}

rootTest("cgroup v1: the job's limits are the exact values in its cgroup files", async () => {
  await withTestController(async (controller) => {
    assert.equal(controller.version, 1);
    const disk = await rootDisk();
    const limits = await resolveJobLimits({
      cpuShares: 512,
      memoryBytes: 32 * MIB,
      readIops: [{ device: disk, iops: 50 }],
      writeIops: [{ device: disk, iops: 20 }],
      pids: 64,
    });
    const { major, minor } = limits.readIops[0];
    const job = await controller.create("exact-1", limits) as JobCgroupHandle;
    assert.equal(job.cloneIntoDir, undefined);
    assert.equal(job.joinTaskFiles.length, 6, "cpu, cpuacct, memory, blkio, pids, freezer");
    const child = spawnInto(job, ["sleep", "30"]);
    try {
      // The process is in every hierarchy once sh has exec'd sleep.
      for (let tries = 0; tries < 100; tries++) {
        const inAll = await Promise.all(
          job.joinTaskFiles.map(async (file) => (await pidsIn(file)).includes(child.pid)),
        );
        if (inAll.every(Boolean)) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const file of job.joinTaskFiles) {
        assert.deepEqual(await pidsIn(file), [child.pid], file);
      }
      assert.equal(await readCgroupFile(job.dirOf("cpu"), "cpu.shares"), "512\n");
      assert.equal(
        await readCgroupFile(job.dirOf("memory"), "memory.limit_in_bytes"),
        "33554432\n",
      );
      assert.equal(
        await readCgroupFile(job.dirOf("memory"), "memory.memsw.limit_in_bytes"),
        "33554432\n",
      );
      assert.equal(
        await readCgroupFile(job.dirOf("blkio"), "blkio.throttle.read_iops_device"),
        `${major}:${minor} 50\n`,
      );
      assert.equal(
        await readCgroupFile(job.dirOf("blkio"), "blkio.throttle.write_iops_device"),
        `${major}:${minor} 20\n`,
      );
      assert.equal(await readCgroupFile(job.dirOf("pids"), "pids.max"), "64\n");
      // The memory cgroup is below our own memory cgroup, whatever that is on this host.
      const ownMemory = (await Deno.readTextFile("/proc/self/cgroup")).split("\n")
        .find((line) => /^\d+:memory:/.test(line))!.split(":")[2];
      const childMemory = (await Deno.readTextFile(`/proc/${child.pid}/cgroup`)).split("\n")
        .find((line) => /^\d+:memory:/.test(line))!.split(":")[2];
      assert.match(
        childMemory,
        new RegExp(`^${ownMemory === "/" ? "" : ownMemory}/ijr-test-\\d+-\\w+/exact-1$`),
      );
    } finally {
      await job.killAll();
      assert.equal((await statusWithin(child, 5_000)).signal, "SIGKILL");
      await job.remove();
    }
    for (const dir of job.directories) {
      assert.equal(await Deno.lstat(dir).then(() => true, () => false), false, `${dir} remains`);
    }
  });
});

rootTest("cgroup v1: past --memory 32m the OOM killer ends the job and usage says so", async () => {
  const hog = await cgroupHog();
  await withTestController(async (controller) => {
    const limits = await resolveJobLimits({ memoryBytes: 32 * MIB });
    const big = await controller.create("oom-big", limits);
    const small = await controller.create("oom-small", limits);
    try {
      const bigChild = spawnInto(big, [hog, "alloc", "64"], { stdout: "piped" });
      const smallChild = spawnInto(small, [hog, "alloc", "16"], { stdout: "piped" });
      const [bigOut, smallOut] = await Promise.all([bigChild.output(), smallChild.output()]);
      assert.equal(bigOut.signal, "SIGKILL");
      assert.equal(new TextDecoder().decode(bigOut.stdout), "");
      assert.equal(smallOut.code, 0);
      assert.equal(new TextDecoder().decode(smallOut.stdout), "allocated 16\n");
      const bigUsage = await big.usage();
      const smallUsage = await small.usage();
      assert.equal(bigUsage.oomKilled, true);
      assert.equal(smallUsage.oomKilled, false);
      // The peak is the limit for the killed job and above 16 MiB (but under 32) for the other.
      assert.ok(
        bigUsage.memoryPeakBytes <= 32 * MIB && bigUsage.memoryPeakBytes > 30 * MIB,
        `${bigUsage.memoryPeakBytes}`,
      );
      assert.ok(
        smallUsage.memoryPeakBytes > 16 * MIB && smallUsage.memoryPeakBytes < 32 * MIB,
        `${smallUsage.memoryPeakBytes}`,
      );
      assert.ok(bigUsage.cpuNanos > 0n && smallUsage.cpuNanos > 0n);
    } finally {
      await big.remove();
      await small.remove();
    }
    // Usage outlives removal.
    assert.equal((await big.usage()).oomKilled, true);
  });
});

rootTest("cgroup v1: a job at the documented minimum memory (4m) starts and runs", async () => {
  await withTestController(async (controller) => {
    const job = await controller.create(
      "minimum",
      await resolveJobLimits({ memoryBytes: 4 * MIB }),
    );
    try {
      const out = await spawnInto(job, [
        "busybox",
        "sh",
        "-c",
        "echo started; ls / > /dev/null; echo done",
      ], {
        stdout: "piped",
      }).output();
      assert.equal(new TextDecoder().decode(out.stdout), "started\ndone\n");
      assert.equal(out.code, 0);
      assert.equal((await job.usage()).oomKilled, false);
    } finally {
      await job.remove();
    }
  });
});

rootTest(
  "cgroup v1: a fork bomb under pids 64 never exceeds 64 tasks and is cleaned up",
  async () => {
    const hog = await cgroupHog();
    await withTestController(async (controller) => {
      const job = await controller.create(
        "forkbomb",
        await resolveJobLimits({ pids: 64 }),
      ) as JobCgroupHandle;
      const pidsDir = job.dirOf("pids");
      const child = spawnInto(job, [hog, "forkbomb"]);
      let highest = 0;
      try {
        const until = Date.now() + 2_000;
        while (Date.now() < until) {
          highest = Math.max(highest, Number(await readCgroupFile(pidsDir, "pids.current")));
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.equal(highest, 64, "the bomb fills the limit exactly and goes no further");
        const refused = Number(
          (await readCgroupFile(pidsDir, "pids.events")).match(/^max (\d+)$/m)![1],
        );
        assert.ok(refused > 0, "the kernel refused forks");
      } finally {
        await job.killAll();
      }
      assert.equal(await readCgroupFile(pidsDir, "cgroup.procs"), "");
      assert.equal((await statusWithin(child, 5_000)).signal, "SIGKILL");
      await job.remove();
      assert.equal(await Deno.lstat(pidsDir!).then(() => true, () => false), false);
    });
  },
);

rootTest("cgroup v1: a restarted daemon reopens its jobs and removes stale ones", async () => {
  const first = await testController();
  const parents = first.version === 1 ? first.parentDirs : [];
  try {
    const job = await first.create("survivor", await resolveJobLimits({}));
    const child = spawnInto(job, ["sleep", "30"]);
    // In every hierarchy before removeStale kills: a kill finds only the tasks already in,
    // and a task joining after it would keep its cgroup busy.
    for (let tries = 0; tries < 250; tries++) {
      const inAll = await Promise.all(
        job.joinTaskFiles.map(async (file) => (await pidsIn(file)).includes(child.pid)),
      );
      if (inAll.every(Boolean)) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // A second controller with the same parent plays the restarted daemon.
    const parent = parents[0].slice(parents[0].lastIndexOf("/") + 1);
    const second = await createCgroupController({ parent });
    const reopened = await second.open("survivor");
    assert.deepEqual(reopened?.joinTaskFiles, job.joinTaskFiles);
    assert.equal(await second.open("never-was"), undefined);
    await second.create("current", await resolveJobLimits({}));
    assert.deepEqual(await second.removeStale(new Set(["current"])), ["survivor"]);
    assert.equal((await statusWithin(child, 5_000)).signal, "SIGKILL");
    assert.equal(await second.open("survivor"), undefined);
    await (await second.open("current"))!.remove();
  } finally {
    await first.removeStale(new Set());
    await first.removeEmptyParents();
    for (const dir of parents) {
      assert.equal(await Deno.lstat(dir).then(() => true, () => false), false);
    }
  }
});
