/**
 * Placement before exec and cgroup.kill, on the real kernel: a program starts inside its
 * cgroup, and one write to cgroup.kill ends every task of the cgroup, however many.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  commandIn,
  destroyCgroup,
  isPopulated,
  keyedValue,
  makeCgroup,
  procsOf,
  spawnIn,
  v2Test,
  waitFor,
  writeValue,
} from "./guest.ts";

v2Test("placement: the program's first instruction already runs in its cgroup", async () => {
  const dir = await makeCgroup("placement");
  try {
    // cat reads its own membership: nothing of it ran anywhere else.
    const out = await commandIn(dir, ["cat", "/proc/self/cgroup"]).output();
    strictEqual(out.code, 0);
    strictEqual(new TextDecoder().decode(out.stdout), `0::${dir.slice("/sys/fs/cgroup".length)}\n`);
  } finally {
    await destroyCgroup(dir);
  }
});

v2Test(
  "cgroup.kill: one write kills every task, the cgroup empties and can be removed",
  async () => {
    const dir = await makeCgroup("kill");
    try {
      // A shell with three background sleepers: four tasks, in two generations.
      const child = await spawnIn(dir, ["sh", "-c", "sleep 600 & sleep 600 & sleep 600 & wait"]);
      strictEqual(await waitFor(async () => (await procsOf(dir)).length === 4, 5_000), true);
      strictEqual(await keyedValue(`${dir}/cgroup.events`, "populated"), 1);
      await writeValue(`${dir}/cgroup.kill`, "1");
      const status = await child.status;
      strictEqual(status.signal, "SIGKILL");
      strictEqual(await waitFor(async () => !(await isPopulated(dir)), 5_000), true);
      deepStrictEqual(await procsOf(dir), []);
      await Deno.remove(dir);
      strictEqual(await Deno.stat(dir).then(() => true, () => false), false);
    } finally {
      await destroyCgroup(dir);
    }
  },
);
