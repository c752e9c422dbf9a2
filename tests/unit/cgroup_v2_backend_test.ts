import assert from "node:assert/strict";
import { IjrError } from "../../lib/errors/mod.ts";
import type { JobLimits } from "../../lib/cgroup/mod.ts";
import { type BackendController, controllerForLayout } from "../../lib/cgroup/controller.ts";
import { FakeCgroup2 } from "../helpers/cgroup_v2_kernel.ts";

const OWN = "/system.slice/ijrd.service";

const LIMITS: JobLimits = {
  cpuShares: 512,
  memoryBytes: 33_554_432,
  readIops: [
    { device: "/dev/vda", major: 254, minor: 0, iops: 50 },
    { device: "/dev/sdb1", major: 8, minor: 16, iops: 100 },
  ],
  writeIops: [{ device: "/dev/vda", major: 254, minor: 0, iops: 20 }],
  pids: 64,
};

const PLAIN: JobLimits = { cpuShares: 1024, readIops: [], writeIops: [], pids: 1024 };

async function withTree(
  options: Partial<Parameters<typeof FakeCgroup2.create>[0]>,
  fn: (fake: FakeCgroup2) => Promise<void>,
): Promise<void> {
  const fake = await FakeCgroup2.create({
    ownPath: OWN,
    ownPids: [4242, 4243],
    delegated: ["cpu", "io", "memory", "pids"],
    disks: ["254:0", "8:16"],
    ...options,
  });
  try {
    await fn(fake);
  } finally {
    await fake.dispose();
  }
}

function controllerFor(fake: FakeCgroup2, ownPath = OWN, parent?: string): BackendController {
  return controllerForLayout(
    { version: 2, mountPoint: fake.root, ownPath },
    { fs: fake, parent, kill: { timeoutMs: 1_000 }, remove: { timeoutMs: 500 } },
  );
}

function assertCode(error: unknown, code: string, message: RegExp): boolean {
  assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
  assert.equal(error.code, code);
  assert.match(error.message, message);
  return true;
}

Deno.test("cgroup v2: writes exactly the right files and values down the path", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    assert.equal(controller.version, 2);
    const job = await controller.create("job-1", LIMITS);
    const leaf = `${OWN}/ijr-daemon`;
    const parent = `${OWN}/ijr`;
    const jobPath = `${parent}/job-1`;
    assert.deepEqual(fake.writes, [
      // The daemon leaves its cgroup first: no internal processes.
      { path: `${leaf}/cgroup.procs`, value: "4242" },
      { path: `${leaf}/cgroup.procs`, value: "4243" },
      { path: `${OWN}/cgroup.subtree_control`, value: "+cpu +memory +io +pids" },
      { path: `${parent}/cgroup.subtree_control`, value: "+cpu +memory +io +pids" },
      { path: `${jobPath}/cpu.weight`, value: "59" },
      { path: `${jobPath}/memory.max`, value: "33554432" },
      { path: `${jobPath}/memory.swap.max`, value: "0" },
      { path: `${jobPath}/io.max`, value: "254:0 riops=50 wiops=20" },
      { path: `${jobPath}/io.max`, value: "8:16 riops=100" },
      { path: `${jobPath}/pids.max`, value: "64" },
    ]);
    assert.equal(job.cloneIntoDir, fake.dir(jobPath));
    assert.deepEqual(job.joinTaskFiles, []);
    assert.equal(await fake.read(OWN, "cgroup.procs"), "");
    assert.equal(await fake.read(leaf, "cgroup.procs"), "4242\n4243\n");
    assert.equal(await fake.read(OWN, "cgroup.subtree_control"), "cpu io memory pids\n");
    assert.equal(await fake.read(parent, "cgroup.subtree_control"), "cpu io memory pids\n");
    assert.equal(await fake.read(jobPath, "cgroup.controllers"), "cpu io memory pids\n");
    assert.equal(await fake.read(jobPath, "cpu.weight"), "59\n");
    assert.equal(await fake.read(jobPath, "memory.max"), "33554432\n");
    assert.equal(await fake.read(jobPath, "memory.swap.max"), "0\n");
    assert.equal(
      await fake.read(jobPath, "io.max"),
      "254:0 rbps=max wbps=max riops=50 wiops=20\n8:16 rbps=max wbps=max riops=100 wiops=max\n",
    );
    assert.equal(await fake.read(jobPath, "pids.max"), "64\n");
    // Nothing at the root, nothing above our own cgroup.
    assert.ok(fake.writes.every((write) => write.path.startsWith(`${OWN}/`)));

    // A second job reuses the prepared path: only its own files are written.
    fake.writes.length = 0;
    await controller.create("job-2", PLAIN);
    assert.deepEqual(fake.writes, [
      { path: `${parent}/job-2/cpu.weight`, value: "100" },
      { path: `${parent}/job-2/pids.max`, value: "1024" },
    ]);
    assert.equal(await fake.read(`${parent}/job-2`, "memory.max"), "max\n");
    assert.equal(await fake.read(`${parent}/job-2`, "io.max"), "");
  });
});

Deno.test("cgroup v2: usage, kill, remove, open and removeStale", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    const job = await controller.create("job-1", LIMITS);
    const jobPath = `${OWN}/ijr/job-1`;
    assert.deepEqual(await job.usage(), { cpuNanos: 0n, memoryPeakBytes: 0, oomKilled: false });
    await fake.setCounter(
      jobPath,
      "cpu.stat",
      "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
    );
    await fake.setCounter(jobPath, "memory.peak", "1234567\n");
    await fake.setCounter(
      jobPath,
      "memory.events",
      "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n",
    );
    const usage = { cpuNanos: 1_500_000n, memoryPeakBytes: 1_234_567, oomKilled: true };
    assert.deepEqual(await job.usage(), usage);

    await fake.addProcess(jobPath, 7001);
    await fake.addProcess(jobPath, 7002);
    await assert.rejects(
      job.remove(),
      (error) =>
        assertCode(error, "INTERNAL", /cannot remove cgroup .*job-1: Device or resource busy/),
    );
    fake.writes.length = 0;
    await job.killAll();
    assert.deepEqual(fake.writes, [{ path: `${jobPath}/cgroup.kill`, value: "1" }]);
    assert.equal(await fake.read(jobPath, "cgroup.procs"), "");
    await job.remove();
    assert.equal(await fake.exists(fake.dir(jobPath)), false);
    // Usage outlives the directory: the final counters are kept.
    assert.deepEqual(await job.usage(), usage);

    await controller.create("keep-me", PLAIN);
    await controller.create("stale-1", PLAIN);
    await fake.addProcess(`${OWN}/ijr/stale-1`, 7003);
    const reopened = await controller.open("stale-1");
    assert.equal(reopened?.cloneIntoDir, fake.dir(`${OWN}/ijr/stale-1`));
    assert.equal(await controller.open("job-1"), undefined);
    await assert.rejects(
      controller.create("keep-me", PLAIN),
      (error) =>
        assertCode(error, "ALREADY_EXISTS", /cgroup .*keep-me of job keep-me already exists/),
    );
    assert.deepEqual(await controller.removeStale(new Set(["keep-me"])), ["stale-1"]);
    assert.deepEqual(await fake.listDirs(fake.dir(`${OWN}/ijr`)), ["keep-me"]);
    await (await controller.open("keep-me"))!.remove();
    await controller.removeEmptyParents();
    assert.deepEqual(await fake.cgroups(), ["/", "/system.slice", OWN, `${OWN}/ijr-daemon`]);
  });
});

Deno.test("cgroup v2: a controller not delegated is only an error when a limit needs it", async () => {
  await withTree({ delegated: ["cpu", "memory", "pids"] }, async (fake) => {
    const controller = controllerFor(fake);
    await assert.rejects(
      controller.create("job-1", LIMITS),
      (error) =>
        assertCode(
          error,
          "FAILED_PRECONDITION",
          /IOPS limits needs the cgroup v2 io controller, which is not delegated/,
        ),
    );
    assert.deepEqual(await fake.listDirs(fake.dir(`${OWN}/ijr`)), []);
    assert.deepEqual(fake.writes.slice(2).map((write) => write.value), [
      "+cpu +memory +pids",
      "+cpu +memory +pids",
    ]);
    const job = await controller.create("job-1", { ...LIMITS, readIops: [], writeIops: [] });
    assert.equal(await fake.read(`${OWN}/ijr/job-1`, "memory.max"), "33554432\n");
    await job.remove();
  });
});

Deno.test("cgroup v2: a failed limit write leaves no cgroup behind", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    const bad: JobLimits = {
      ...PLAIN,
      readIops: [{ device: "/dev/x", major: 9, minor: 9, iops: 5 }],
    };
    await assert.rejects(
      controller.create("job-1", bad),
      (error) =>
        assertCode(
          error,
          "INTERNAL",
          /cannot write "9:9 riops=5" to .*job-1\/io.max: No such device/,
        ),
    );
    assert.deepEqual(await fake.listDirs(fake.dir(`${OWN}/ijr`)), []);
  });
});

Deno.test("cgroup v2: the root's files are never written", async () => {
  await withTree({ ownPath: "/", ownPids: [] }, async (fake) => {
    // The fake gives the root "cpuset cpu io memory hugetlb" but enables nothing below it.
    const controller = controllerFor(fake, "/");
    await assert.rejects(
      controller.create("job-1", PLAIN),
      (error) =>
        assertCode(
          error,
          "FAILED_PRECONDITION",
          /a pids limit needs the cgroup v2 pids controller/,
        ),
    );
    assert.ok(
      fake.writes.every((write) => !/^\/[^/]+$/.test(write.path)),
      JSON.stringify(fake.writes),
    );
    await controller.removeEmptyParents();
    assert.deepEqual(await fake.cgroups(), ["/"]);
  });
});

Deno.test("cgroup v2: an absolute parent holding processes is refused, not emptied", async () => {
  await withTree({}, async (fake) => {
    assert.throws(
      () => controllerFor(fake, OWN, OWN),
      (error) => assertCode(error, "INVALID_ARGUMENT", /is the daemon's own cgroup/),
    );
    assert.throws(
      () => controllerFor(fake, OWN, "/"),
      (error) => assertCode(error, "INVALID_ARGUMENT", /must name a cgroup below the root/),
    );
    assert.throws(
      () => controllerFor(fake, OWN, "jobs/../x"),
      (error) => assertCode(error, "INVALID_ARGUMENT", /must not contain "." or ".."/),
    );
    await fake.mkdir(fake.dir("/other.slice"));
    await fake.addProcess("/other.slice", 99);
    fake.writes.length = 0;
    const controller = controllerFor(fake, OWN, "/other.slice/jobs");
    await assert.rejects(
      controller.create("job-1", PLAIN),
      (error) =>
        assertCode(error, "FAILED_PRECONDITION", /cgroup .*\/other.slice holds processes \(99\)/),
    );
    assert.deepEqual(fake.writes, []);
    assert.equal(await fake.read("/other.slice", "cgroup.procs"), "99\n");
    assert.equal(await fake.read(OWN, "cgroup.procs"), "4242\n4243\n");
  });
});
