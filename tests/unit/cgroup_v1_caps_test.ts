/**
 * The caps on all jobs on cgroup v1, against the v1 test double: exact files and the order
 * the kernel demands (memsw never below memory), "-1" to lift a memory cap, refusal of a
 * memory hierarchy that is not hierarchical, hosts without swap accounting. The real kernel
 * checks the same in tests/integration/cgroup_caps_test.ts.
 */
import assert from "node:assert/strict";
import { controllerForLayout } from "../../lib/cgroup/controller.ts";
import { readMemTotal } from "../../lib/cgroup/host.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import { FakeCgroup1, type FakeCgroup1Options, V1_UNLIMITED } from "../helpers/cgroup_v1_kernel.ts";

const OWN = "/system.slice/ijrd.service";
const PARENT = `${OWN}/ijr`;
const MIB = 1024 * 1024;

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
  return controllerForLayout(fake.layout(), { fs: fake });
}

/** The paths of logged writes below the fake's root, with their values. */
function writesOf(fake: FakeCgroup1): string[] {
  return fake.writes.map((write) => `${write.path} ${write.value}`);
}

function assertCode(error: unknown, code: string, message: RegExp): boolean {
  assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
  assert.equal(error.code, code);
  assert.match(error.message, message);
  return true;
}

Deno.test("cgroup v1 caps: exact files, memsw never below memory, -1 lifts", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    await controller.prepare();
    assert.deepEqual(writesOf(fake), [], "preparing v1 only makes directories");

    // Lowering from no limit: memory first, then memsw.
    await controller.capAllJobs({ pids: 40, memoryBytes: 48 * MIB });
    assert.deepEqual(writesOf(fake), [
      `/pids${PARENT}/pids.max 40`,
      `/memory${PARENT}/memory.limit_in_bytes 50331648`,
      `/memory${PARENT}/memory.memsw.limit_in_bytes 50331648`,
    ]);
    assert.equal(await fake.read("pids", PARENT, "pids.max"), "40\n");
    assert.equal(await fake.read("memory", PARENT, "memory.limit_in_bytes"), "50331648\n");
    assert.equal(await fake.read("memory", PARENT, "memory.memsw.limit_in_bytes"), "50331648\n");
    assert.deepEqual(await controller.readAllJobsCaps(), { pids: 40, memoryBytes: 50331648 });

    // Raising: memsw first, or the kernel refuses memory above memsw.
    fake.writes.length = 0;
    await controller.capAllJobs({ pids: 40, memoryBytes: 96 * MIB });
    assert.deepEqual(writesOf(fake), [
      `/pids${PARENT}/pids.max 40`,
      `/memory${PARENT}/memory.memsw.limit_in_bytes 100663296`,
      `/memory${PARENT}/memory.limit_in_bytes 100663296`,
    ]);

    // Lowering again: memory first.
    fake.writes.length = 0;
    await controller.capAllJobs({ memoryBytes: 32 * MIB });
    assert.deepEqual(writesOf(fake), [
      `/pids${PARENT}/pids.max max`,
      `/memory${PARENT}/memory.limit_in_bytes 33554432`,
      `/memory${PARENT}/memory.memsw.limit_in_bytes 33554432`,
    ]);

    // No caps: everything lifted, v1's way ("-1"; the kernel refuses "max" for memory).
    fake.writes.length = 0;
    await controller.capAllJobs({});
    assert.deepEqual(writesOf(fake), [
      `/pids${PARENT}/pids.max max`,
      `/memory${PARENT}/memory.memsw.limit_in_bytes -1`,
      `/memory${PARENT}/memory.limit_in_bytes -1`,
    ]);
    assert.equal(await fake.read("pids", PARENT, "pids.max"), "max\n");
    assert.equal(await fake.read("memory", PARENT, "memory.limit_in_bytes"), `${V1_UNLIMITED}\n`);
    assert.equal(
      await fake.read("memory", PARENT, "memory.memsw.limit_in_bytes"),
      `${V1_UNLIMITED}\n`,
    );
    assert.deepEqual(await controller.readAllJobsCaps(), {
      pids: undefined,
      memoryBytes: undefined,
    });
    // Nothing above the job parent was written.
    assert.ok(fake.writes.every((write) => write.path.includes(`${PARENT}/`)));
  });
});

Deno.test("cgroup v1 caps: a memory hierarchy that is not hierarchical is refused", async () => {
  await withTree({ useHierarchy: "0" }, async (fake) => {
    const controller = controllerFor(fake);
    await assert.rejects(
      controller.capAllJobs({ pids: 40, memoryBytes: 48 * MIB }),
      (error) =>
        assertCode(
          error,
          "FAILED_PRECONDITION",
          new RegExp(
            `^${fake.dir("memory", PARENT)}/memory\\.use_hierarchy is 0: the memory cgroup of ` +
              `the jobs is not hierarchical`,
          ),
        ),
    );
    // Refused before anything was written: not even the pids cap.
    assert.deepEqual(writesOf(fake), []);
    assert.equal(await fake.read("pids", PARENT, "pids.max"), "max\n");
    // Without a memory cap nothing depends on the hierarchy: a pids cap alone is written.
    await controller.capAllJobs({ pids: 40 });
    assert.equal(await fake.read("pids", PARENT, "pids.max"), "40\n");
  });
});

Deno.test("cgroup v1 caps: without use_hierarchy or swap accounting files", async () => {
  await withTree({ useHierarchy: undefined, swapAccounting: false }, async (fake) => {
    const controller = controllerFor(fake);
    await controller.capAllJobs({ memoryBytes: 48 * MIB });
    assert.deepEqual(writesOf(fake), [
      `/pids${PARENT}/pids.max max`,
      `/memory${PARENT}/memory.limit_in_bytes 50331648`,
    ]);
    await controller.capAllJobs({});
    assert.equal(await fake.read("memory", PARENT, "memory.limit_in_bytes"), `${V1_UNLIMITED}\n`);
  });
});

Deno.test("cgroup v1 caps: caps out of range are refused before anything is written", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    await assert.rejects(
      controller.capAllJobs({ pids: 1 }),
      (error) =>
        assertCode(
          error,
          "INVALID_ARGUMENT",
          /^pids cap on all jobs: pids limit must be from 2 to 4194304, got 1$/,
        ),
    );
    await assert.rejects(
      controller.capAllJobs({ memoryBytes: 100 }),
      (error) =>
        assertCode(
          error,
          "INVALID_ARGUMENT",
          /^memory cap on all jobs: memory limit 100 bytes is below the minimum of 4m/,
        ),
    );
    assert.deepEqual(writesOf(fake), []);
  });
});

Deno.test("cgroup v1 caps: memory available is the smallest limit up to the root", async () => {
  await withTree({}, async (fake) => {
    const controller = controllerFor(fake);
    const memTotal = await readMemTotal();
    // No limit anywhere (and before the job parent exists): the host's memory.
    assert.deepEqual(await controller.memoryAvailable(), {
      bytes: memTotal,
      source: "/proc/meminfo",
    });
    // A limit above ours (the slice's) counts, and so does the smaller of two.
    await fake.setFile("memory", "/system.slice", "memory.limit_in_bytes", "1073741824\n");
    await fake.setFile("memory", OWN, "memory.limit_in_bytes", "2147483648\n");
    assert.deepEqual(await controller.memoryAvailable(), {
      bytes: Math.min(1073741824, memTotal),
      source: 1073741824 < memTotal ? fake.dir("memory", "/system.slice") : "/proc/meminfo",
    });
    // The job parent's own cap is the smallest once written.
    await controller.capAllJobs({ memoryBytes: 48 * MIB });
    assert.deepEqual(await controller.memoryAvailable(), {
      bytes: 48 * MIB,
      source: fake.dir("memory", PARENT),
    });
  });
});
