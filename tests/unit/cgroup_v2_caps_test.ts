/**
 * The caps on all jobs on cgroup v2, against the v2 test double with the real cgroup2 file
 * formats: pids.max, memory.max and memory.swap.max on the job parent, "max" to lift, a
 * controller that is not delegated, and the memory.max chain up to the root. The real kernel
 * checks the same in tests/v2/caps_test.ts.
 */
import assert from "node:assert/strict";
import { controllerForLayout } from "../../lib/cgroup/controller.ts";
import { readMemTotal } from "../../lib/cgroup/host.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import { FakeCgroup2, type FakeCgroup2Options } from "../helpers/cgroup_v2_kernel.ts";

const OWN = "/system.slice/ijrd.service";
const PARENT = `${OWN}/ijr`;
const MIB = 1024 * 1024;

async function withTree(
  options: Partial<FakeCgroup2Options>,
  fn: (fake: FakeCgroup2) => Promise<void>,
): Promise<void> {
  const fake = await FakeCgroup2.create({
    ownPath: OWN,
    ownPids: [4242],
    delegated: ["cpu", "io", "memory", "pids"],
    disks: [],
    ...options,
  });
  try {
    await fn(fake);
  } finally {
    await fake.dispose();
  }
}

function controllerFor(fake: FakeCgroup2) {
  return controllerForLayout({ version: 2, mountPoint: fake.root, ownPath: OWN }, { fs: fake });
}

function assertCode(error: unknown, code: string, message: RegExp): boolean {
  assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
  assert.equal(error.code, code);
  assert.match(error.message, message);
  return true;
}

Deno.test("cgroup v2 caps: pids.max, memory.max and swap 0 on the job parent; max lifts", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    await controller.capAllJobs({ pids: 40, memoryBytes: 48 * MIB });
    assert.deepEqual(fake.writes, [
      // prepare(): the daemon into its leaf, the controllers down to the job parent ...
      { path: `${OWN}/ijr-daemon/cgroup.procs`, value: "4242" },
      { path: `${OWN}/cgroup.subtree_control`, value: "+cpu +memory +io +pids" },
      { path: `${PARENT}/cgroup.subtree_control`, value: "+cpu +memory +io +pids" },
      // ... so that the job parent has the files the caps go in.
      { path: `${PARENT}/pids.max`, value: "40" },
      { path: `${PARENT}/memory.max`, value: "50331648" },
      { path: `${PARENT}/memory.swap.max`, value: "0" },
    ]);
    assert.equal(await fake.read(PARENT, "pids.max"), "40\n");
    assert.equal(await fake.read(PARENT, "memory.max"), "50331648\n");
    assert.equal(await fake.read(PARENT, "memory.swap.max"), "0\n");
    assert.deepEqual(await controller.readAllJobsCaps(), { pids: 40, memoryBytes: 50331648 });

    // A restart without caps lifts them all.
    fake.writes.length = 0;
    await controller.capAllJobs({});
    assert.deepEqual(fake.writes, [
      { path: `${PARENT}/pids.max`, value: "max" },
      { path: `${PARENT}/memory.max`, value: "max" },
      { path: `${PARENT}/memory.swap.max`, value: "max" },
    ]);
    assert.equal(await fake.read(PARENT, "pids.max"), "max\n");
    assert.equal(await fake.read(PARENT, "memory.max"), "max\n");
    assert.equal(await fake.read(PARENT, "memory.swap.max"), "max\n");
    assert.deepEqual(await controller.readAllJobsCaps(), {
      pids: undefined,
      memoryBytes: undefined,
    });

    // Job cgroups go below the capped parent as before.
    const job = await controller.create("job-1", {
      cpuShares: 1024,
      readIops: [],
      writeIops: [],
      pids: 1024,
    });
    assert.equal(job.cloneIntoDir, fake.dir(`${PARENT}/job-1`));
    await job.remove();
    await controller.removeEmptyParents();
    assert.deepEqual(await fake.cgroups(), ["/", "/system.slice", OWN, `${OWN}/ijr-daemon`]);
  });
});

Deno.test("cgroup v2 caps: a cap needs its controller delegated; no cap needs nothing", async () => {
  await withTree({ delegated: ["cpu", "pids"] }, async (fake) => {
    const controller = controllerFor(fake);
    await assert.rejects(
      controller.capAllJobs({ pids: 40, memoryBytes: 48 * MIB }),
      (error) =>
        assertCode(
          error,
          "FAILED_PRECONDITION",
          new RegExp(
            `^a memory cap on all jobs needs the cgroup v2 memory controller, which is not ` +
              `delegated to ${fake.dir(PARENT)}$`,
          ),
        ),
    );
    // Refused before any cap was written (prepare's writes are the three before).
    assert.deepEqual(fake.writes.slice(3), []);
    assert.equal(await fake.read(PARENT, "pids.max"), "max\n");
    await controller.capAllJobs({ pids: 40 });
    assert.deepEqual(fake.writes.slice(3), [{ path: `${PARENT}/pids.max`, value: "40" }]);
    assert.deepEqual(await controller.readAllJobsCaps(), { pids: 40, memoryBytes: undefined });
  });
});

Deno.test("cgroup v2 caps: memory available follows memory.max up to the root", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    const memTotal = await readMemTotal();
    assert.deepEqual(await controller.memoryAvailable(), {
      bytes: memTotal,
      source: "/proc/meminfo",
    });
    // The slice above us has a limit (the fake's cgroups start with memory.max "max").
    await fake.setCounter("/system.slice", "memory.max", "1073741824\n");
    assert.deepEqual(await controller.memoryAvailable(), {
      bytes: Math.min(1073741824, memTotal),
      source: 1073741824 < memTotal ? fake.dir("/system.slice") : "/proc/meminfo",
    });
    await controller.capAllJobs({ memoryBytes: 48 * MIB });
    assert.deepEqual(await controller.memoryAvailable(), {
      bytes: 48 * MIB,
      source: fake.dir(PARENT),
    });
  });
});
