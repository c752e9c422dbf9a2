/**
 * The real cgroup v2 backend (lib/cgroup) on a real cgroup v2 kernel, started from a
 * delegated cgroup: the files it writes hold exactly what the kernel must enforce, the limits
 * take effect, and every job cgroup is gone afterwards.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  type CgroupController,
  createCgroupController,
  type JobCgroup,
  type JobLimitsRequest,
  resolveJobLimits,
} from "../../lib/cgroup/mod.ts";
import { DAEMON_LEAF as LIB_DAEMON_LEAF } from "../../lib/cgroup/detect.ts";
import {
  CGROUP_ROOT,
  commandIn,
  DAEMON_LEAF,
  directIo,
  keyedValue,
  ownCgroupPath,
  procsOf,
  readText,
  spawnIn,
  testDisk,
  testDiskNumbers,
  v2Test,
  waitFor,
} from "./guest.ts";

const MiB = 1024 * 1024;
const RUNNER = `${CGROUP_ROOT}/ijr-test.slice/runner`;

let controller: Promise<CgroupController> | undefined;

/** One backend for the file, detected from /proc/self like ijrd does at start-up. */
function backend(): Promise<CgroupController> {
  controller ??= createCgroupController();
  return controller;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Creates job `jobId` with limits resolved like a request, runs `fn`, then removes it. */
async function withJob(
  jobId: string,
  request: JobLimitsRequest,
  fn: (cgroup: JobCgroup, dir: string) => Promise<void>,
): Promise<void> {
  const limits = await resolveJobLimits(request);
  const cgroup = await (await backend()).create(jobId, limits);
  const dir = cgroup.cloneIntoDir!;
  try {
    await fn(cgroup, dir);
  } finally {
    await cgroup.killAll();
    await cgroup.remove();
  }
  strictEqual(await exists(dir), false, `${dir} is left behind`);
}

v2Test("backend: detects cgroup v2 and puts jobs under its own delegated cgroup", async () => {
  const cgroups = await backend();
  strictEqual(cgroups.version, 2);
  strictEqual(LIB_DAEMON_LEAF, DAEMON_LEAF);
  deepStrictEqual(cgroups.parentDirs, [`${RUNNER}/ijr`]);
  await withJob("placement", {}, async (cgroup, dir) => {
    strictEqual(dir, `${RUNNER}/ijr/placement`);
    deepStrictEqual(cgroup.joinTaskFiles, []);
    // Creating the job moved us out of the way (no internal processes) and delegated the
    // controllers down to the job.
    strictEqual(await ownCgroupPath(), `/ijr-test.slice/runner/${DAEMON_LEAF}`);
    deepStrictEqual(await procsOf(RUNNER), []);
    strictEqual(await readText(`${dir}/cgroup.controllers`), "cpu io memory pids");
    // Placement before exec: the program starts inside the job's cgroup.
    const out = await commandIn(dir, ["cat", "/proc/self/cgroup"]).output();
    strictEqual(new TextDecoder().decode(out.stdout), "0::/ijr-test.slice/runner/ijr/placement\n");
  });
});

v2Test("backend: CPU shares become the exact cpu.weight (runc/crun formula)", async () => {
  const expected: [number, string][] = [
    [2, "1"],
    [512, "59"],
    [1024, "100"],
    [2048, "174"],
    [262144, "10000"],
  ];
  for (const [shares, weight] of expected) {
    await withJob(`weight-${shares}`, { cpuShares: shares }, async (_cgroup, dir) => {
      strictEqual(await readText(`${dir}/cpu.weight`), weight, `cpu.weight for ${shares} shares`);
    });
  }
});

v2Test("backend: memory limit writes memory.max and forbids swap", async () => {
  await withJob("memory", { memoryBytes: 64 * MiB }, async (_cgroup, dir) => {
    strictEqual(await readText(`${dir}/memory.max`), "67108864");
    strictEqual(await readText(`${dir}/memory.swap.max`), "0");
  });
  // Without a memory limit nothing is limited.
  await withJob("no-memory", {}, async (_cgroup, dir) => {
    strictEqual(await readText(`${dir}/memory.max`), "max");
  });
});

v2Test("backend: an OOM kill is reported by usage(), also after removal", async () => {
  const limits = await resolveJobLimits({ memoryBytes: 32 * MiB });
  const cgroup = await (await backend()).create("oom", limits);
  try {
    const out = await commandIn(cgroup.cloneIntoDir!, [
      "dd",
      "if=/dev/zero",
      "of=/dev/null",
      "bs=64M",
      "count=1",
    ]).output();
    strictEqual(out.signal, "SIGKILL");
    strictEqual(await keyedValue(`${cgroup.cloneIntoDir}/memory.events`, "oom_kill"), 1);
    const usage = await cgroup.usage();
    strictEqual(usage.oomKilled, true);
    ok(usage.memoryPeakBytes > 16 * MiB && usage.memoryPeakBytes <= 32 * MiB);
  } finally {
    await cgroup.killAll();
    await cgroup.remove();
  }
  strictEqual(await exists(cgroup.cloneIntoDir!), false);
  strictEqual((await cgroup.usage()).oomKilled, true);
});

v2Test("backend: IOPS limits become one io.max line per disk, and hold", async () => {
  const disk = await testDiskNumbers();
  const device = testDisk();
  await withJob("io-read", { readIops: [{ device, iops: 50 }] }, async (_cgroup, dir) => {
    strictEqual(await readText(`${dir}/io.max`), `${disk} rbps=max wbps=max riops=50 wiops=max`);
  });
  const request: JobLimitsRequest = {
    readIops: [{ device, iops: 50 }],
    writeIops: [{ device, iops: 40 }],
  };
  await withJob("io", request, async (_cgroup, dir) => {
    strictEqual(await readText(`${dir}/io.max`), `${disk} rbps=max wbps=max riops=50 wiops=40`);
    const read = await directIo(dir, { op: "read", count: 100 });
    strictEqual(read.success, true, read.stderr);
    ok(read.iops > 30 && read.iops < 62.5, `reads ran at ${read.iops.toFixed(1)}/s, limit 50/s`);
    const write = await directIo(dir, { op: "write", count: 80 });
    strictEqual(write.success, true, write.stderr);
    ok(write.iops > 24 && write.iops < 50, `writes ran at ${write.iops.toFixed(1)}/s, limit 40/s`);
  });
});

v2Test("backend: pids.max contains a fork bomb and killAll ends it", async () => {
  await withJob("pids", { pids: 16 }, async (cgroup, dir) => {
    strictEqual(await readText(`${dir}/pids.max`), "16");
    const bomb = await spawnIn(dir, ["sh", "-c", "b() { b | b & }; b; exec sleep 600"]);
    strictEqual(
      await waitFor(async () => (await keyedValue(`${dir}/pids.events`, "max")) > 0, 10_000),
      true,
    );
    const current = Number(await readText(`${dir}/pids.current`));
    ok(current <= 16, `pids.current ${current} is above the limit 16`);
    await cgroup.killAll();
    strictEqual((await bomb.status).signal, "SIGKILL");
    deepStrictEqual(await procsOf(dir), []);
  });
});

v2Test("backend: killAll (the stop path) kills every task through cgroup.kill", async () => {
  await withJob("stop", {}, async (cgroup, dir) => {
    const job = await spawnIn(dir, ["sh", "-c", "sleep 600 & sleep 600 & wait"]);
    strictEqual(await waitFor(async () => (await procsOf(dir)).length === 3, 5_000), true);
    await cgroup.killAll();
    strictEqual((await job.status).signal, "SIGKILL");
    strictEqual(await keyedValue(`${dir}/cgroup.events`, "populated"), 0);
  });
});

v2Test(
  "backend: removeStale kills and removes leftovers, then nothing of IJR remains",
  async () => {
    const cgroups = await backend();
    const leftover = await cgroups.create("leftover-1", await resolveJobLimits({}));
    const kept = await cgroups.create("kept-1", await resolveJobLimits({}));
    const sleeper = await spawnIn(leftover.cloneIntoDir!, ["sleep", "600"]);
    try {
      deepStrictEqual(await cgroups.removeStale(new Set(["kept-1"])), ["leftover-1"]);
      strictEqual((await sleeper.status).signal, "SIGKILL");
      strictEqual(await exists(leftover.cloneIntoDir!), false);
      strictEqual(await exists(kept.cloneIntoDir!), true);
    } finally {
      await kept.remove();
      await leftover.killAll();
      await leftover.remove();
    }
    // Every job cgroup of this file is gone; the parent goes when the daemon shuts down.
    const names: string[] = [];
    for await (const entry of Deno.readDir(`${RUNNER}/ijr`)) names.push(entry.name);
    deepStrictEqual(names.filter((name) => !name.includes(".")), []);
    await cgroups.removeEmptyParents();
    strictEqual(await exists(`${RUNNER}/ijr`), false);
  },
);
