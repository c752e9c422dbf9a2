/**
 * Job cgroups made ahead on cgroup v1 (lib/cgroup/spares.ts), against the v1 test double, whose
 * rename follows the kernel's (within a parent, never onto a name in use): after a user's job
 * starts (once the start says it is done, when it does), a spare appears in that user's group in
 * every hierarchy; the next job's cgroup is that spare renamed, with the job's own limits and no
 * caps written again; a group without jobs
 * stays for the linger with its spare, then goes; shutdown takes lingering groups and spares at
 * once (a job that outlives ijrd keeps its group); a claim onto a job ID in use is refused and
 * keeps the spare whole; a spare or group removed behind IJR's back costs only the fallback; a
 * restarted daemon removes an earlier run's spares without taking them for jobs; on cgroup v2,
 * which renames nothing, nothing lingers. The real kernel runs a job in a spare in
 * tests/integration/cgroup_spares_test.ts.
 */
import assert from "node:assert/strict";
import { controllerForLayout } from "../../lib/cgroup/controller.ts";
import type { V1Controller } from "../../lib/cgroup/detect.ts";
import type { JobLimits } from "../../lib/cgroup/mod.ts";
import { validateJobId } from "../../lib/cgroup/paths.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import { FakeCgroup1 } from "../helpers/cgroup_v1_kernel.ts";
import { FakeCgroup2 } from "../helpers/cgroup_v2_kernel.ts";
import { sleep, waitFor } from "../helpers/wait.ts";

const OWN = "/system.slice/ijrd.service";
const PARENT = `${OWN}/ijr`;
const ALICE = "user-alice-2bd806c9";
const GROUP = `${PARENT}/${ALICE}`;
const MIB = 1024 * 1024;
const PLAIN: JobLimits = { cpuShares: 1024, readIops: [], writeIops: [], pids: 1024 };
const HIERARCHIES: readonly V1Controller[] = ["cpu", "memory", "pids", "freezer"];
const SPARE = /^spare-[0-9a-f]{12}$/;

async function withTree(fn: (fake: FakeCgroup1) => Promise<void>): Promise<void> {
  const fake = await FakeCgroup1.create({
    hierarchies: [["cpu", "cpuacct"], ["memory"], ["pids"], ["freezer"]],
    ownPath: OWN,
    useHierarchy: "1",
    swapAccounting: true,
  });
  try {
    await fn(fake);
  } finally {
    await fake.dispose();
  }
}

function controllerFor(fake: FakeCgroup1, groupLingerMs = 60_000) {
  return controllerForLayout(fake.layout(), {
    fs: fake,
    kill: { timeoutMs: 1_000 },
    remove: { timeoutMs: 500 },
    groupLingerMs,
  });
}

/** The child cgroups of `path` in each hierarchy, by its first controller. */
async function childrenIn(fake: FakeCgroup1, path: string): Promise<Record<string, string[]>> {
  const children: Record<string, string[]> = {};
  for (const controller of HIERARCHIES) {
    children[controller] = await fake.listDirs(fake.dir(controller, path)).catch(() => []);
  }
  return children;
}

/** The same names in every hierarchy. */
function everywhere(names: string[]): Record<string, string[]> {
  return Object.fromEntries(HIERARCHIES.map((controller) => [controller, names]));
}

/** Waits until alice's group holds `jobs` and one spare, in every hierarchy; its name. */
async function spareBeside(fake: FakeCgroup1, jobs: string[]): Promise<string> {
  let children: Record<string, string[]> = {};
  let spare = "";
  const found = await waitFor(async () => {
    children = await childrenIn(fake, GROUP);
    spare = children.cpu.find((name) => SPARE.test(name)) ?? "";
    return JSON.stringify(children) === JSON.stringify(everywhere([...jobs, spare].sort()));
  }, 2_000);
  assert.ok(found, `no spare beside ${jobs.join(", ")}: ${JSON.stringify(children)}`);
  return spare;
}

Deno.test("cgroup v1 spares: the next job's cgroup is the spare renamed, with its own limits", async () => {
  await withTree(async (fake) => {
    const controller = controllerFor(fake);
    await controller.capEveryGroup({ pids: 30, memoryBytes: 64 * MIB });
    const first = await controller.create("job-1", PLAIN, ALICE);
    const spare = await spareBeside(fake, ["job-1"]);
    // A spare gets nothing written: the job that claims it writes its own limits.
    assert.deepEqual(fake.writes.filter((write) => write.path.includes("spare-")), []);

    fake.writes.length = 0;
    const second = await controller.create("job-2", { ...PLAIN, cpuShares: 512, pids: 64 }, ALICE);
    // The group was there with its caps: only the job's limits are written, into the renamed
    // spare, and a new spare comes after.
    assert.deepEqual(fake.writes.map((write) => `${write.path} ${write.value}`), [
      `/cpu,cpuacct${GROUP}/job-2/cpu.shares 512`,
      `/pids${GROUP}/job-2/pids.max 64`,
    ]);
    const next = await spareBeside(fake, ["job-1", "job-2"]);
    assert.notEqual(next, spare, "the claimed spare is the job's now; a new one was made");
    assert.deepEqual(second.joinTaskFiles, [
      `${fake.dir("cpu", GROUP)}/job-2/tasks`,
      `${fake.dir("memory", GROUP)}/job-2/tasks`,
      `${fake.dir("pids", GROUP)}/job-2/tasks`,
      `${fake.dir("freezer", GROUP)}/job-2/tasks`,
    ]);
    assert.equal(await fake.read("pids", `${GROUP}/job-2`, "pids.max"), "64\n");
    assert.equal(await fake.read("pids", GROUP, "pids.max"), "30\n");

    await first.remove();
    await second.remove();
    // No job left: the group stays, with its spare, for the next job of alice's.
    assert.deepEqual(await childrenIn(fake, GROUP), everywhere([next]));
    assert.deepEqual(await controller.readGroupCaps(ALICE), { pids: 30, memoryBytes: 64 * MIB });
    const third = await controller.create("job-3", PLAIN, ALICE);
    await spareBeside(fake, ["job-3"]);
    await third.remove();

    // Shutdown does not wait for the linger; a job that outlives ijrd keeps its group, but
    // not its group's spare.
    const outliving = await controller.create("job-4", PLAIN, ALICE);
    await spareBeside(fake, ["job-4"]);
    await controller.removeEmptyParents();
    assert.deepEqual(await childrenIn(fake, GROUP), everywhere(["job-4"]));
    await outliving.remove();
    await controller.removeEmptyParents();
    assert.deepEqual(await childrenIn(fake, OWN), everywhere([]));
  });
});

Deno.test("cgroup v1 spares: the next spare is made once the start says it is done", async () => {
  // Made during the start, the spare's mkdirs competed with the spawn for the thread, the
  // vCPUs and the kernel's cgroup lock.
  await withTree(async (fake) => {
    const controller = controllerFor(fake);
    const startDone = Promise.withResolvers<void>();
    const job = await controller.create("job-1", PLAIN, ALICE, { refillAfter: startDone.promise });
    await sleep(30);
    assert.deepEqual(await childrenIn(fake, GROUP), everywhere(["job-1"]));
    startDone.resolve();
    await spareBeside(fake, ["job-1"]);
    await job.remove();
    await controller.removeEmptyParents();
    assert.deepEqual(await childrenIn(fake, OWN), everywhere([]));
  });
});

Deno.test("cgroup v1 spares: a group without jobs goes with its spare when its linger ends", async () => {
  await withTree(async (fake) => {
    const controller = controllerFor(fake, 150);
    const job = await controller.create("job-1", PLAIN, ALICE);
    const spare = await spareBeside(fake, ["job-1"]);
    await job.remove();
    assert.deepEqual(await childrenIn(fake, GROUP), everywhere([spare]));
    // A job that comes during the linger stops it; its removal starts another.
    await sleep(100);
    const again = await controller.create("job-2", PLAIN, ALICE);
    await sleep(100);
    assert.deepEqual((await childrenIn(fake, GROUP)).cpu.filter((n) => !SPARE.test(n)), ["job-2"]);
    await again.remove();
    // The group goes hierarchy by hierarchy: wait for the last, not the first.
    const gone = async () => Object.values(await childrenIn(fake, PARENT)).every((c) => !c.length);
    assert.ok(await waitFor(gone, 2_000), "the group outlived its linger");
    assert.deepEqual(await childrenIn(fake, PARENT), everywhere([]));
    await controller.removeEmptyParents();
    assert.deepEqual(await childrenIn(fake, OWN), everywhere([]));
  });
});

Deno.test("cgroup v1 spares: removing a job beside others counts the group's cgroups, lists none", async () => {
  await withTree(async (fake) => {
    const controller = controllerFor(fake, 150);
    const first = await controller.create("job-1", PLAIN, ALICE);
    await spareBeside(fake, ["job-1"]);
    const second = await controller.create("job-2", PLAIN, ALICE);
    const spare = await spareBeside(fake, ["job-1", "job-2"]);
    // job-2 and the spare are left: more child cgroups than spares, so a job is there.
    fake.listings = 0;
    await first.remove();
    assert.equal(fake.listings, 0, "the group's directories were listed");
    assert.deepEqual(await childrenIn(fake, GROUP), everywhere(["job-2", spare].sort()));
    // The last job: the count says no more than the spare, so the names decide, and the
    // group lingers with its spare, then goes.
    fake.listings = 0;
    await second.remove();
    assert.ok(fake.listings > 0, "the last job's removal must look at the names");
    assert.deepEqual(await childrenIn(fake, GROUP), everywhere([spare]));
    const gone = async () => Object.values(await childrenIn(fake, PARENT)).every((c) => !c.length);
    assert.ok(await waitFor(gone, 2_000), "the group outlived its linger");
  });
});

Deno.test("cgroup v1 spares: a claim onto a job ID in use is refused and keeps the spare", async () => {
  await withTree(async (fake) => {
    const controller = controllerFor(fake);
    const job = await controller.create("job-1", PLAIN, ALICE);
    const spare = await spareBeside(fake, ["job-1"]);
    await assert.rejects(
      controller.create("job-1", PLAIN, ALICE),
      (error) => {
        assert.ok(error instanceof IjrError);
        assert.equal(error.code, "ALREADY_EXISTS");
        assert.equal(
          error.message,
          `cgroup ${fake.dir("cpu", GROUP)}/job-1 of job job-1 already exists`,
        );
        return true;
      },
    );
    assert.deepEqual(await childrenIn(fake, GROUP), everywhere(["job-1", spare]));
    // The kept spare is the next job's.
    await controller.create("job-2", PLAIN, ALICE);
    assert.ok(!(await childrenIn(fake, GROUP)).cpu.includes(spare));
    await spareBeside(fake, ["job-1", "job-2"]);
    await job.remove();
    await (await controller.open("job-2", ALICE))!.remove();
    await controller.removeEmptyParents();
    assert.deepEqual(await childrenIn(fake, OWN), everywhere([]));
  });
});

Deno.test("cgroup v1 spares: a spare or group removed behind IJR's back costs the fallback only", async () => {
  await withTree(async (fake) => {
    const controller = controllerFor(fake);
    await controller.capEveryGroup({ pids: 30 });
    const job = await controller.create("job-1", PLAIN, ALICE);
    const spare = await spareBeside(fake, ["job-1"]);
    // Half of the spare goes: the next job makes its cgroup itself, and the rest of the spare
    // goes too.
    await fake.rmdir(fake.dir("memory", `${GROUP}/${spare}`));
    const second = await controller.create("job-2", PLAIN, ALICE);
    const next = await spareBeside(fake, ["job-1", "job-2"]);
    assert.notEqual(next, spare);

    // The whole group goes while it lingers: the next job makes it again, with its caps.
    await job.remove();
    await second.remove();
    for (const controllerName of HIERARCHIES) {
      await fake.rmdir(fake.dir(controllerName, `${GROUP}/${next}`));
      await fake.rmdir(fake.dir(controllerName, GROUP));
    }
    const third = await controller.create("job-3", PLAIN, ALICE);
    assert.equal(await fake.read("pids", GROUP, "pids.max"), "30\n");
    await spareBeside(fake, ["job-3"]);
    await third.remove();
    await controller.removeEmptyParents();
    assert.deepEqual(await childrenIn(fake, OWN), everywhere([]));
  });
});

Deno.test("cgroup v1 spares: a restarted daemon removes an earlier run's spares, not as jobs", async () => {
  await withTree(async (fake) => {
    const before = controllerFor(fake);
    await before.create("job-1", PLAIN, ALICE);
    await before.create("job-2", PLAIN, ALICE);
    await spareBeside(fake, ["job-1", "job-2"]);
    // Its daemon died; the next one keeps job-1 (adopted) and sweeps the rest.
    const after = controllerFor(fake);
    assert.deepEqual(await after.removeStale(new Set(["job-1"])), ["job-2"]);
    assert.deepEqual(await childrenIn(fake, GROUP), everywhere(["job-1"]));
    // The adopted job's group lingers after it as any other (no spare: none was claimed).
    await (await after.open("job-1", ALICE))!.remove();
    assert.deepEqual(await childrenIn(fake, PARENT), everywhere([ALICE]));
    assert.deepEqual(await childrenIn(fake, GROUP), everywhere([]));
    await after.removeEmptyParents();
    assert.deepEqual(await childrenIn(fake, OWN), everywhere([]));
  });
});

Deno.test("cgroup v1 spares: no job may take a spare's name", () => {
  assert.throws(() => validateJobId("spare-0123456789ab"), (error) => {
    assert.ok(error instanceof IjrError);
    assert.equal(error.code, "INVALID_ARGUMENT");
    assert.equal(
      error.message,
      'job ID "spare-0123456789ab" cannot name a cgroup: it is shaped like a spare\'s name ' +
        "(spare-<12 hex>)",
    );
    return true;
  });
  validateJobId("spare-0123456789abc");
  validateJobId("spare");
});

Deno.test("cgroup v2 spares: cgroup2 renames nothing, so a group goes with its last job", async () => {
  const fake = await FakeCgroup2.create({
    ownPath: OWN,
    ownPids: [4242],
    delegated: ["cpu", "io", "memory", "pids"],
    disks: ["254:0"],
  });
  try {
    const controller = controllerForLayout({ version: 2, mountPoint: fake.root, ownPath: OWN }, {
      fs: fake,
      kill: { timeoutMs: 1_000 },
      remove: { timeoutMs: 500 },
      groupLingerMs: 60_000,
    });
    const job = await controller.create("job-1", PLAIN, ALICE);
    await sleep(20);
    assert.deepEqual(await fake.listDirs(fake.dir(GROUP)), ["job-1"]);
    await job.remove();
    assert.deepEqual(await fake.listDirs(fake.dir(PARENT)), []);
    await controller.removeEmptyParents();
  } finally {
    await fake.dispose();
  }
});
