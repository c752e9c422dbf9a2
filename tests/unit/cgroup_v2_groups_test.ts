/**
 * The users' groups on cgroup v2, against the v2 test double: a group is made by its owner's
 * first job with its controllers passed on and its caps written before the job's cgroup, is
 * removed with its last job, keeps its caps across that, and is handled by removeStale and
 * removeEmptyParents together with job cgroups of the layout before groups. The real kernel
 * checks the same in tests/v2/groups_test.ts.
 */
import assert from "node:assert/strict";
import { type BackendController, controllerForLayout } from "../../lib/cgroup/controller.ts";
import type { CgroupFs } from "../../lib/cgroup/fs.ts";
import { userGroupName } from "../../lib/cgroup/group_name.ts";
import type { JobLimits } from "../../lib/cgroup/mod.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import { FakeCgroup2, type FakeCgroup2Options } from "../helpers/cgroup_v2_kernel.ts";

const OWN = "/system.slice/ijrd.service";
const PARENT = `${OWN}/ijr`;
const ALICE = "user-alice-2bd806c9";
const BOB = "user-bob-81b637d8";
const MIB = 1024 * 1024;
const PLAIN: JobLimits = { cpuShares: 1024, readIops: [], writeIops: [], pids: 1024 };
/** The cgroups of the fake that are not IJR's job cgroups. */
const BASE = ["/", "/system.slice", OWN, `${OWN}/ijr-daemon`];

async function withTree(
  options: Partial<FakeCgroup2Options>,
  fn: (fake: FakeCgroup2) => Promise<void>,
): Promise<void> {
  const fake = await FakeCgroup2.create({
    ownPath: OWN,
    ownPids: [4242],
    delegated: ["cpu", "io", "memory", "pids"],
    disks: ["254:0"],
    ...options,
  });
  try {
    await fn(fake);
  } finally {
    await fake.dispose();
  }
}

function controllerFor(fake: CgroupFs & FakeCgroup2, fs: CgroupFs = fake): BackendController {
  return controllerForLayout(
    { version: 2, mountPoint: fake.root, ownPath: OWN },
    { fs, kill: { timeoutMs: 1_000 }, remove: { timeoutMs: 500 } },
  );
}

function assertCode(error: unknown, code: string, message: RegExp): boolean {
  assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
  assert.equal(error.code, code);
  assert.match(error.message, message);
  return true;
}

Deno.test("cgroup v2 groups: the names the tests use are userGroupName's", () => {
  assert.equal(userGroupName("alice"), ALICE);
  assert.equal(userGroupName("bob"), BOB);
});

Deno.test("cgroup v2 groups: controllers, then caps, then the job; gone with its last job", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    await controller.capEveryGroup({ pids: 30, memoryBytes: 64 * MIB });
    // No group exists yet: only prepare()'s writes.
    assert.deepEqual(fake.writes, [
      { path: `${OWN}/ijr-daemon/cgroup.procs`, value: "4242" },
      { path: `${OWN}/cgroup.subtree_control`, value: "+cpu +memory +io +pids" },
      { path: `${PARENT}/cgroup.subtree_control`, value: "+cpu +memory +io +pids" },
    ]);
    assert.equal(await controller.readGroupCaps(ALICE), undefined);

    fake.writes.length = 0;
    const first = await controller.create("job-1", PLAIN, ALICE);
    const group = `${PARENT}/${ALICE}`;
    assert.deepEqual(fake.writes, [
      // The group holds no processes, so it may pass the controllers on to its jobs ...
      { path: `${group}/cgroup.subtree_control`, value: "+cpu +memory +io +pids" },
      // ... and its caps are in force before its first job exists.
      { path: `${group}/pids.max`, value: "30" },
      { path: `${group}/memory.max`, value: "67108864" },
      { path: `${group}/memory.swap.max`, value: "0" },
      { path: `${group}/job-1/cpu.weight`, value: "100" },
      { path: `${group}/job-1/pids.max`, value: "1024" },
    ]);
    assert.equal(first.cloneIntoDir, fake.dir(`${group}/job-1`));
    assert.equal(await fake.read(group, "cgroup.controllers"), "cpu io memory pids\n");
    assert.equal(await fake.read(group, "cgroup.subtree_control"), "cpu io memory pids\n");
    assert.equal(await fake.read(`${group}/job-1`, "cgroup.controllers"), "cpu io memory pids\n");
    assert.equal(await fake.read(group, "pids.max"), "30\n");
    assert.equal(await fake.read(group, "memory.max"), "67108864\n");
    assert.equal(await fake.read(group, "memory.swap.max"), "0\n");
    assert.equal(await fake.read(group, "cgroup.procs"), "");
    assert.deepEqual(await controller.readGroupCaps(ALICE), { pids: 30, memoryBytes: 67108864 });

    // A second job of the same owner: the group is there, only the job's files are written.
    fake.writes.length = 0;
    const second = await controller.create("job-2", PLAIN, ALICE);
    assert.deepEqual(fake.writes, [
      { path: `${group}/job-2/cpu.weight`, value: "100" },
      { path: `${group}/job-2/pids.max`, value: "1024" },
    ]);
    // Another owner gets a group of its own, with the same caps.
    const other = await controller.create("job-3", PLAIN, BOB);
    assert.equal(other.cloneIntoDir, fake.dir(`${PARENT}/${BOB}/job-3`));
    assert.deepEqual(await controller.readGroupCaps(BOB), { pids: 30, memoryBytes: 67108864 });
    assert.deepEqual(
      await fake.cgroups(),
      [
        ...BASE,
        PARENT,
        group,
        `${group}/job-1`,
        `${group}/job-2`,
        `${PARENT}/${BOB}`,
        `${PARENT}/${BOB}/job-3`,
      ].sort(),
    );

    // The group stays while a job is in it, and goes with the last one.
    await first.remove();
    assert.deepEqual(await fake.listDirs(fake.dir(group)), ["job-2"]);
    await second.remove();
    await other.remove();
    assert.deepEqual(await fake.cgroups(), [...BASE, PARENT].sort());
    assert.equal(await controller.readGroupCaps(ALICE), undefined);
    // A second remove() of the last job changes nothing.
    await second.remove();
    await controller.removeEmptyParents();
    assert.deepEqual(await fake.cgroups(), BASE);
  });
});

Deno.test("cgroup v2 groups: own caps win, capEveryGroup rewrites the others, {} lifts", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    await controller.capEveryGroup({ pids: 30 });
    // Own caps of a group that does not exist yet: remembered, written when it is made.
    await controller.capGroup(ALICE, { pids: 12, memoryBytes: 32 * MIB });
    const alice = await controller.create("job-a", PLAIN, ALICE);
    const bob = await controller.create("job-b", PLAIN, BOB);
    assert.deepEqual(await controller.readGroupCaps(ALICE), { pids: 12, memoryBytes: 33554432 });
    assert.deepEqual(await controller.readGroupCaps(BOB), { pids: 30, memoryBytes: undefined });

    // New caps for every group reach bob's group at once, not alice's.
    fake.writes.length = 0;
    await controller.capEveryGroup({ pids: 20, memoryBytes: 48 * MIB });
    assert.deepEqual(fake.writes, [
      { path: `${PARENT}/${BOB}/pids.max`, value: "20" },
      { path: `${PARENT}/${BOB}/memory.max`, value: "50331648" },
      { path: `${PARENT}/${BOB}/memory.swap.max`, value: "0" },
    ]);
    assert.deepEqual(await controller.readGroupCaps(ALICE), { pids: 12, memoryBytes: 33554432 });

    // Lifting alice's own caps writes "max" into every file.
    fake.writes.length = 0;
    await controller.capGroup(ALICE, {});
    assert.deepEqual(fake.writes, [
      { path: `${PARENT}/${ALICE}/pids.max`, value: "max" },
      { path: `${PARENT}/${ALICE}/memory.max`, value: "max" },
      { path: `${PARENT}/${ALICE}/memory.swap.max`, value: "max" },
    ]);
    assert.deepEqual(await controller.readGroupCaps(ALICE), {
      pids: undefined,
      memoryBytes: undefined,
    });

    // Own caps are kept across the group's removal: a group made again gets them.
    await alice.remove();
    await controller.capGroup(ALICE, { pids: 9 });
    const again = await controller.create("job-c", PLAIN, ALICE);
    assert.equal(await fake.read(`${PARENT}/${ALICE}`, "pids.max"), "9\n");
    assert.equal(await fake.read(`${PARENT}/${ALICE}`, "memory.max"), "max\n");
    await again.remove();
    await bob.remove();
    await controller.removeEmptyParents();
    assert.deepEqual(await fake.cgroups(), BASE);
  });
});

Deno.test("cgroup v2 groups: bad names and caps are refused before anything is made", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    await assert.rejects(
      controller.create("job-1", PLAIN, "alice"),
      (error) => assertCode(error, "INVALID_ARGUMENT", /^"alice" is not a group name/),
    );
    await assert.rejects(
      controller.create("job-1", PLAIN, `${ALICE}/x`),
      (error) => assertCode(error, "INVALID_ARGUMENT", /is not a group name/),
    );
    await assert.rejects(
      controller.create(ALICE, PLAIN),
      (error) => assertCode(error, "INVALID_ARGUMENT", /is shaped like a group name$/),
    );
    await assert.rejects(
      controller.open("job-1", ".."),
      (error) => assertCode(error, "INVALID_ARGUMENT", /^"\.\." is not a group name/),
    );
    await assert.rejects(
      controller.capGroup(ALICE, { pids: 1 }),
      (error) =>
        assertCode(
          error,
          "INVALID_ARGUMENT",
          /^pids cap on all jobs of user-alice-2bd806c9: pids limit must be from 2 to 4194304, got 1$/,
        ),
    );
    await assert.rejects(
      controller.capEveryGroup({ memoryBytes: 100 }),
      (error) =>
        assertCode(
          error,
          "INVALID_ARGUMENT",
          /^memory cap on all jobs of each user: memory limit 100 bytes is below the minimum/,
        ),
    );
    await assert.rejects(
      controller.readGroupCaps("bob"),
      (error) => assertCode(error, "INVALID_ARGUMENT", /^"bob" is not a group name/),
    );
    assert.deepEqual(fake.writes, []);
    assert.deepEqual(await fake.cgroups(), ["/", "/system.slice", OWN]);
  });
});

Deno.test("cgroup v2 groups: a failed create removes a group it made, not one in use", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    const bad: JobLimits = {
      ...PLAIN,
      readIops: [{ device: "/dev/x", major: 9, minor: 9, iops: 5 }],
    };
    await assert.rejects(
      controller.create("job-1", bad, ALICE),
      (error) => assertCode(error, "INTERNAL", /cannot write "9:9 riops=5" to .*job-1\/io.max/),
    );
    assert.deepEqual(await fake.listDirs(fake.dir(PARENT)), []);
    const running = await controller.create("job-2", PLAIN, ALICE);
    await assert.rejects(
      controller.create("job-3", bad, ALICE),
      (error) => assertCode(error, "INTERNAL", /job-3\/io.max/),
    );
    assert.deepEqual(await fake.listDirs(fake.dir(`${PARENT}/${ALICE}`)), ["job-2"]);
    await assert.rejects(
      controller.create("job-2", PLAIN, ALICE),
      (error) => assertCode(error, "ALREADY_EXISTS", /job-2 of job job-2 already exists/),
    );
    assert.deepEqual(await fake.listDirs(fake.dir(`${PARENT}/${ALICE}`)), ["job-2"]);
    await running.remove();
    assert.deepEqual(await fake.listDirs(fake.dir(PARENT)), []);
  });
});

Deno.test("cgroup v2 groups: caps the kernel cannot keep refuse the job and leave no group", async () => {
  await withTree({ delegated: ["cpu", "pids"] }, async (fake) => {
    const controller = controllerFor(fake);
    // No group exists: nothing to write, nothing refused yet.
    await controller.capEveryGroup({ pids: 30, memoryBytes: 64 * MIB });
    await assert.rejects(
      controller.create("job-1", PLAIN, ALICE),
      (error) =>
        assertCode(
          error,
          "FAILED_PRECONDITION",
          new RegExp(
            `^a memory cap on all jobs of ${ALICE} needs the cgroup v2 memory controller, ` +
              `which is not delegated to ${fake.dir(PARENT)}$`,
          ),
        ),
    );
    assert.deepEqual(await fake.listDirs(fake.dir(PARENT)), []);
    // Without the memory cap the group is made, with the controllers there are.
    await controller.capEveryGroup({ pids: 30 });
    const job = await controller.create("job-1", PLAIN, ALICE);
    assert.equal(await fake.read(`${PARENT}/${ALICE}`, "cgroup.subtree_control"), "cpu pids\n");
    assert.equal(await fake.read(`${PARENT}/${ALICE}`, "pids.max"), "30\n");
    await job.remove();
    assert.deepEqual(await fake.listDirs(fake.dir(PARENT)), []);
  });
});

Deno.test("cgroup v2 groups: open finds a job in its group; its removal takes the group", async () => {
  await withTree({}, async (fake) => {
    const first = controllerFor(fake);
    await first.capEveryGroup({ pids: 30 });
    await first.create("job-1", PLAIN, ALICE);
    // A second controller plays the restarted daemon.
    const second = controllerFor(fake);
    assert.equal(await second.open("job-1"), undefined, "not directly under the parent");
    assert.equal(await second.open("job-1", BOB), undefined, "not in another group");
    const reopened = await second.open("job-1", ALICE);
    assert.equal(reopened?.cloneIntoDir, fake.dir(`${PARENT}/${ALICE}/job-1`));
    assert.deepEqual(await second.readGroupCaps(ALICE), { pids: 30, memoryBytes: undefined });
    await reopened!.remove();
    assert.deepEqual(await fake.listDirs(fake.dir(PARENT)), []);
  });
});

Deno.test("cgroup v2 groups: removeStale handles both levels and the layout before groups", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    await controller.create("kept-a", PLAIN, ALICE);
    await controller.create("stale-a", PLAIN, ALICE);
    await controller.create("stale-b", PLAIN, BOB);
    // Job cgroups directly under the parent, as an ijrd from before groups left them.
    await controller.create("legacy-1", PLAIN);
    await controller.create("legacy-kept", PLAIN);
    await fake.addProcess(`${PARENT}/${ALICE}/stale-a`, 7001);
    await fake.addProcess(`${PARENT}/${BOB}/stale-b`, 7002);
    await fake.addProcess(`${PARENT}/legacy-1`, 7003);
    // Not job-named: neither a job nor a group, left alone.
    await fake.mkdir(fake.dir(`${PARENT}/${ALICE}/not.a.job!`));
    fake.writes.length = 0;
    assert.deepEqual(
      await controller.removeStale(new Set(["kept-a", "legacy-kept"])),
      ["legacy-1", "stale-a", "stale-b"],
    );
    // Each stale job was killed before it was removed.
    assert.deepEqual(fake.writes, [
      { path: `${PARENT}/legacy-1/cgroup.kill`, value: "1" },
      { path: `${PARENT}/${ALICE}/stale-a/cgroup.kill`, value: "1" },
      { path: `${PARENT}/${BOB}/stale-b/cgroup.kill`, value: "1" },
    ]);
    // Bob's group lost its only job and went with it; alice's keeps its kept job.
    assert.deepEqual(
      await fake.cgroups(),
      [
        ...BASE,
        PARENT,
        `${PARENT}/${ALICE}`,
        `${PARENT}/${ALICE}/kept-a`,
        `${PARENT}/${ALICE}/not.a.job!`,
        `${PARENT}/legacy-kept`,
      ].sort(),
    );
    await fake.rmdir(fake.dir(`${PARENT}/${ALICE}/not.a.job!`));
    // Nothing kept: everything goes, and so do the groups and the parent.
    assert.deepEqual(await controller.removeStale(new Set()), ["kept-a", "legacy-kept"]);
    await controller.removeEmptyParents();
    assert.deepEqual(await fake.cgroups(), BASE);
  });
});

Deno.test("cgroup v2 groups: removeEmptyParents removes groups left empty, keeps busy ones", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    const job = await controller.create("job-1", PLAIN, ALICE);
    // An empty group (a crash between its mkdir and its first job's) goes; a busy one stays.
    await fake.mkdir(fake.dir(`${PARENT}/${BOB}`));
    await controller.removeEmptyParents();
    assert.deepEqual(
      await fake.cgroups(),
      [
        ...BASE,
        PARENT,
        `${PARENT}/${ALICE}`,
        `${PARENT}/${ALICE}/job-1`,
      ].sort(),
    );
    await job.remove();
    await controller.removeEmptyParents();
    assert.deepEqual(await fake.cgroups(), BASE);
  });
});

/**
 * The fake's file operations, with a pause before the rmdir of one directory: the moment
 * when a group's last job has been removed and the group is about to go.
 */
function pausingRmdir(fake: FakeCgroup2, dir: string, ms: number): CgroupFs {
  return {
    readFile: (path) => fake.readFile(path),
    writeFile: (path, value) => fake.writeFile(path, value),
    exists: (path) => fake.exists(path),
    mkdir: (path) => fake.mkdir(path),
    async rmdir(path) {
      if (path === dir) await new Promise((resolve) => setTimeout(resolve, ms));
      await fake.rmdir(path);
    },
    listDirs: (path) => fake.listDirs(path),
    childCount: (path) => fake.childCount(path),
    rename: (from, to) => fake.rename(from, to),
  };
}

Deno.test("cgroup v2 groups: a create while the group's last job is removed keeps its caps", async () => {
  await withTree({}, async (fake) => {
    const group = `${PARENT}/${ALICE}`;
    const controller = controllerFor(fake, pausingRmdir(fake, fake.dir(group), 100));
    await controller.capEveryGroup({ pids: 30, memoryBytes: 64 * MIB });
    for (let round = 0; round < 3; round++) {
      const last = await controller.create(`job-${round}`, PLAIN, ALICE);
      // The removal has checked that the group is empty and waits before its rmdir; the
      // create must neither put its job into the group going away nor find it without caps.
      const removing = last.remove();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const next = await controller.create(`next-${round}`, PLAIN, ALICE);
      await removing;
      assert.deepEqual(await fake.listDirs(fake.dir(group)), [`next-${round}`]);
      assert.deepEqual(await controller.readGroupCaps(ALICE), {
        pids: 30,
        memoryBytes: 67108864,
      });
      assert.equal(await fake.read(group, "cgroup.subtree_control"), "cpu io memory pids\n");
      await next.remove();
      assert.deepEqual(await fake.listDirs(fake.dir(PARENT)), []);
    }
  });
});
