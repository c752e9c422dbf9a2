/**
 * The guest is what the lane claims: a pure cgroup v2 kernel, the tests started from a
 * delegated, non-root cgroup, and the kernel's "no internal processes" rule in force.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  CGROUP_ROOT,
  CONTROLLERS,
  DAEMON_LEAF,
  delegatedParent,
  destroyCgroup,
  errnoOf,
  makeCgroup,
  ownCgroupPath,
  procsOf,
  readText,
  spawnIn,
  v2Test,
  writeValue,
} from "./guest.ts";

v2Test("hierarchy: only cgroup2 is mounted, on /sys/fs/cgroup", async () => {
  const cgroupMounts = (await readText("/proc/self/mounts")).split("\n")
    .map((line) => line.split(" "))
    .filter(([, , type]) => type === "cgroup" || type === "cgroup2")
    .map(([, mountPoint, type]) => `${type} ${mountPoint}`);
  deepStrictEqual(cgroupMounts, ["cgroup2 /sys/fs/cgroup"]);
  // cgroup_no_v1=all: no v1 hierarchy has any controller.
  for (const line of (await readText("/proc/cgroups")).split("\n").slice(1)) {
    const [name, hierarchy] = line.split("\t");
    strictEqual(hierarchy, "0", `v1 controller ${name} is bound to hierarchy ${hierarchy}`);
  }
});

v2Test("hierarchy: the root offers cpu, io, memory and pids", async () => {
  const offered = new Set((await readText(`${CGROUP_ROOT}/cgroup.controllers`)).split(" "));
  for (const controller of CONTROLLERS) strictEqual(offered.has(controller), true, controller);
});

v2Test("hierarchy: the tests run in the delegated cgroup, not the root", async () => {
  const own = await ownCgroupPath();
  const expected = ["/ijr-test.slice/runner", `/ijr-test.slice/runner/${DAEMON_LEAF}`];
  strictEqual(expected.includes(own), true, `own cgroup is ${own}`);
  // The slice above delegates all four controllers to the runner's cgroup.
  strictEqual(
    await readText(`${CGROUP_ROOT}/ijr-test.slice/runner/cgroup.controllers`),
    "cpu io memory pids",
  );
});

v2Test(
  "hierarchy: after delegation our processes are in the leaf and children get controllers",
  async () => {
    const parent = await delegatedParent();
    strictEqual(parent, `${CGROUP_ROOT}/ijr-test.slice/runner`);
    strictEqual(await ownCgroupPath(), `/ijr-test.slice/runner/${DAEMON_LEAF}`);
    deepStrictEqual(await procsOf(parent), []);
    strictEqual(await readText(`${parent}/cgroup.subtree_control`), "cpu io memory pids");
    const child = await makeCgroup("controllers");
    try {
      strictEqual(await readText(`${child}/cgroup.controllers`), "cpu io memory pids");
    } finally {
      await destroyCgroup(child);
    }
  },
);

v2Test(
  "hierarchy: no internal processes: a cgroup with a task cannot enable controllers",
  async () => {
    const dir = await makeCgroup("internal");
    try {
      const sleeper = await spawnIn(dir, ["sleep", "600"]);
      // The kernel refuses: the cgroup holds a task, so it may not distribute resources.
      // (memory is a domain controller; threaded ones such as pids are exempt from the rule.)
      strictEqual(await errnoOf(writeValue(`${dir}/cgroup.subtree_control`, "+memory")), "EBUSY");
      strictEqual(await readText(`${dir}/cgroup.subtree_control`), "");
      // Moving the task into a leaf first is what makes it legal (what ijrd does on v2).
      await Deno.mkdir(`${dir}/leaf`);
      await writeValue(`${dir}/leaf/cgroup.procs`, String(sleeper.pid));
      await writeValue(`${dir}/cgroup.subtree_control`, "+memory");
      strictEqual(await readText(`${dir}/cgroup.subtree_control`), "memory");
      // And now no task may join the inner cgroup itself.
      strictEqual(await errnoOf(writeValue(`${dir}/cgroup.procs`, String(sleeper.pid))), "EBUSY");
      deepStrictEqual(await procsOf(`${dir}/leaf`), [sleeper.pid]);
      sleeper.kill("SIGKILL");
      await sleeper.status;
    } finally {
      await destroyCgroup(dir);
    }
  },
);
