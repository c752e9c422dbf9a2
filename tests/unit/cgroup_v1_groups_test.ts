/**
 * The users' groups on cgroup v1, against the v1 test double: a group has a directory in
 * every hierarchy, its caps go into the pids and memory hierarchies' (memsw never below
 * memory), a memory hierarchy that is not hierarchical refuses a memory cap on a group, and
 * a group present in only some hierarchies is still found and removed. The real kernel checks
 * the same in tests/integration/cgroup_groups_test.ts.
 */
import assert from "node:assert/strict";
import { controllerForLayout } from "../../lib/cgroup/controller.ts";
import type { V1Controller } from "../../lib/cgroup/detect.ts";
import type { JobLimits } from "../../lib/cgroup/mod.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import { FakeCgroup1, type FakeCgroup1Options } from "../helpers/cgroup_v1_kernel.ts";

const OWN = "/system.slice/ijrd.service";
const PARENT = `${OWN}/ijr`;
const ALICE = "user-alice-2bd806c9";
const BOB = "user-bob-81b637d8";
const MIB = 1024 * 1024;
const PLAIN: JobLimits = { cpuShares: 1024, readIops: [], writeIops: [], pids: 1024 };
/** One controller of each hierarchy of the fake. */
const HIERARCHIES: readonly V1Controller[] = ["cpu", "memory", "pids", "freezer"];

async function withTree(
  options: Partial<FakeCgroup1Options>,
  fn: (fake: FakeCgroup1) => Promise<void>,
): Promise<void> {
  const fake = await FakeCgroup1.create({
    hierarchies: [["cpu", "cpuacct"], ["memory"], ["pids"], ["freezer"]],
    ownPath: OWN,
    useHierarchy: "1",
    swapAccounting: true,
    ...options,
  });
  try {
    await fn(fake);
  } finally {
    await fake.dispose();
  }
}

function controllerFor(fake: FakeCgroup1) {
  return controllerForLayout(fake.layout(), {
    fs: fake,
    kill: { timeoutMs: 1_000 },
    remove: { timeoutMs: 500 },
  });
}

function writesOf(fake: FakeCgroup1): string[] {
  return fake.writes.map((write) => `${write.path} ${write.value}`);
}

/** The child cgroups of `path` in each hierarchy, by its first controller. */
async function childrenIn(fake: FakeCgroup1, path: string): Promise<Record<string, string[]>> {
  const children: Record<string, string[]> = {};
  for (const controller of HIERARCHIES) {
    children[controller] = await fake.listDirs(fake.dir(controller, path)).catch(() => []);
  }
  return children;
}

function assertCode(error: unknown, code: string, message: RegExp): boolean {
  assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
  assert.equal(error.code, code);
  assert.match(error.message, message);
  return true;
}

Deno.test("cgroup v1 groups: a directory per hierarchy, caps before the job, gone with it", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    await controller.capEveryGroup({ pids: 30, memoryBytes: 64 * MIB });
    assert.deepEqual(writesOf(fake), [], "no group yet, nothing to write");
    const job = await controller.create("job-1", PLAIN, ALICE);
    const group = `${PARENT}/${ALICE}`;
    assert.deepEqual(writesOf(fake), [
      `/pids${group}/pids.max 30`,
      // Lowering from no limit: memory first, then memsw.
      `/memory${group}/memory.limit_in_bytes 67108864`,
      `/memory${group}/memory.memsw.limit_in_bytes 67108864`,
      `/cpu,cpuacct${group}/job-1/cpu.shares 1024`,
      `/pids${group}/job-1/pids.max 1024`,
    ]);
    assert.deepEqual(job.joinTaskFiles, [
      `${fake.dir("cpu", group)}/job-1/tasks`,
      `${fake.dir("memory", group)}/job-1/tasks`,
      `${fake.dir("pids", group)}/job-1/tasks`,
      `${fake.dir("freezer", group)}/job-1/tasks`,
    ]);
    assert.deepEqual(await childrenIn(fake, PARENT), {
      cpu: [ALICE],
      memory: [ALICE],
      pids: [ALICE],
      freezer: [ALICE],
    });
    assert.equal(await fake.read("pids", group, "pids.max"), "30\n");
    assert.equal(await fake.read("memory", group, "memory.limit_in_bytes"), "67108864\n");
    assert.equal(await fake.read("memory", group, "memory.memsw.limit_in_bytes"), "67108864\n");
    assert.deepEqual(await controller.readGroupCaps(ALICE), { pids: 30, memoryBytes: 67108864 });

    // Raising the group's own caps: memsw first, or the kernel refuses memory above memsw.
    fake.writes.length = 0;
    await controller.capGroup(ALICE, { pids: 40, memoryBytes: 96 * MIB });
    assert.deepEqual(writesOf(fake), [
      `/pids${group}/pids.max 40`,
      `/memory${group}/memory.memsw.limit_in_bytes 100663296`,
      `/memory${group}/memory.limit_in_bytes 100663296`,
    ]);

    await job.remove();
    assert.deepEqual(await childrenIn(fake, PARENT), {
      cpu: [],
      memory: [],
      pids: [],
      freezer: [],
    });
    assert.equal(await controller.readGroupCaps(ALICE), undefined);
    await controller.removeEmptyParents();
    assert.deepEqual(await childrenIn(fake, OWN), { cpu: [], memory: [], pids: [], freezer: [] });
  });
});

Deno.test("cgroup v1 groups: a memory cap on a group needs a hierarchical memory cgroup", async () => {
  await withTree({ useHierarchy: "0" }, async (fake) => {
    const controller = controllerFor(fake);
    await controller.capEveryGroup({ pids: 30, memoryBytes: 64 * MIB });
    await assert.rejects(
      controller.create("job-1", PLAIN, ALICE),
      (error) =>
        assertCode(
          error,
          "FAILED_PRECONDITION",
          new RegExp(
            `^${fake.dir("memory", `${PARENT}/${ALICE}`)}/memory\\.use_hierarchy is 0: the ` +
              `memory cgroup of the jobs is not hierarchical, so a memory cap on all jobs of ` +
              `${ALICE} would not hold`,
          ),
        ),
    );
    // Refused before anything was written, and the group is gone from every hierarchy.
    assert.deepEqual(writesOf(fake), []);
    assert.deepEqual(await childrenIn(fake, PARENT), {
      cpu: [],
      memory: [],
      pids: [],
      freezer: [],
    });
    // A pids cap alone does not depend on the memory hierarchy.
    await controller.capEveryGroup({ pids: 30 });
    const job = await controller.create("job-1", PLAIN, ALICE);
    assert.equal(await fake.read("pids", `${PARENT}/${ALICE}`, "pids.max"), "30\n");
    await job.remove();
  });
});

Deno.test("cgroup v1 groups: removeStale finds jobs and groups in any hierarchy", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    await controller.create("stale-a", PLAIN, ALICE);
    await controller.create("legacy-1", PLAIN);
    // A group a crash left in the pids hierarchy only, with a job there only.
    await fake.mkdir(fake.dir("pids", `${PARENT}/${BOB}`));
    await fake.mkdir(fake.dir("pids", `${PARENT}/${BOB}/stale-b`));
    assert.deepEqual(await controller.removeStale(new Set()), ["legacy-1", "stale-a", "stale-b"]);
    assert.deepEqual(await childrenIn(fake, PARENT), {
      cpu: [],
      memory: [],
      pids: [],
      freezer: [],
    });
    await controller.removeEmptyParents();
    assert.deepEqual(await childrenIn(fake, OWN), { cpu: [], memory: [], pids: [], freezer: [] });
  });
});
