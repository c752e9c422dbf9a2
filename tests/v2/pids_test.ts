/** pids.max on the real kernel: a fork bomb stays contained and is ended by cgroup.kill. */
import { ok, strictEqual } from "node:assert/strict";
import {
  destroyCgroup,
  isPopulated,
  keyedValue,
  makeCgroup,
  readText,
  spawnIn,
  v2Test,
  waitFor,
  writeValue,
} from "./guest.ts";

v2Test("pids.max: a fork bomb stays under the limit and the system keeps working", async () => {
  const dir = await makeCgroup("pids");
  try {
    await writeValue(`${dir}/pids.max`, "16");
    strictEqual(await readText(`${dir}/pids.max`), "16");
    // The classic bomb: every instance starts two more, forever. The first shell then
    // becomes a sleep (exec: no fork, so it cannot fail) to stay the child we wait for.
    const bomb = await spawnIn(dir, ["sh", "-c", "b() { b | b & }; b; exec sleep 600"]);
    // The kernel refused forks (pids.events counts them) ...
    strictEqual(
      await waitFor(async () => (await keyedValue(`${dir}/pids.events`, "max")) > 0, 10_000),
      true,
    );
    // ... and the cgroup never holds more than its limit.
    for (let sample = 0; sample < 10; sample++) {
      const current = Number(await readText(`${dir}/pids.current`));
      ok(current <= 16, `pids.current is ${current}, above pids.max 16`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Outside the cgroup, processes still start.
    const outside = await new Deno.Command("true").output();
    strictEqual(outside.code, 0);
    await writeValue(`${dir}/cgroup.kill`, "1");
    strictEqual((await bomb.status).signal, "SIGKILL");
    strictEqual(await waitFor(async () => !(await isPopulated(dir)), 5_000), true);
  } finally {
    await destroyCgroup(dir);
  }
});
