/**
 * cpu.weight on the real kernel: the range the kernel accepts, exact values read back, and
 * the effect: two busy loops sharing one CPU split it in the ratio of their weights.
 */
import { ok, strictEqual } from "node:assert/strict";
import {
  destroyCgroup,
  errnoOf,
  keyedValue,
  makeCgroup,
  readText,
  spawnIn,
  v2Test,
  writeValue,
} from "./guest.ts";

v2Test("cpu.weight: 1..10000 read back exactly, 0 and 10001 refused", async () => {
  const dir = await makeCgroup("weight");
  try {
    strictEqual(await readText(`${dir}/cpu.weight`), "100");
    for (const weight of ["1", "59", "100", "174", "10000"]) {
      await writeValue(`${dir}/cpu.weight`, weight);
      strictEqual(await readText(`${dir}/cpu.weight`), weight);
    }
    strictEqual(await errnoOf(writeValue(`${dir}/cpu.weight`, "0")), "ERANGE");
    strictEqual(await errnoOf(writeValue(`${dir}/cpu.weight`, "10001")), "ERANGE");
    strictEqual(await readText(`${dir}/cpu.weight`), "10000");
  } finally {
    await destroyCgroup(dir);
  }
});

v2Test("cpu.weight: two busy loops on one CPU share it by weight (100 vs 300)", async () => {
  const light = await makeCgroup("cpu-light");
  const heavy = await makeCgroup("cpu-heavy");
  try {
    await writeValue(`${light}/cpu.weight`, "100");
    await writeValue(`${heavy}/cpu.weight`, "300");
    const busy = ["taskset", "-c", "0", "sh", "-c", "while :; do :; done"];
    const loops = [await spawnIn(light, busy), await spawnIn(heavy, busy)];
    try {
      const usage = (dir: string) => keyedValue(`${dir}/cpu.stat`, "usage_usec");
      const [light0, heavy0] = [await usage(light), await usage(heavy)];
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const [light1, heavy1] = [await usage(light), await usage(heavy)];
      const ratio = (heavy1 - heavy0) / (light1 - light0);
      // The fair scheduler gives 3:1; the tolerance absorbs emulation jitter, not a broken
      // weight (equal weights would measure about 1).
      ok(ratio > 2 && ratio < 4.5, `CPU time ratio heavy/light is ${ratio.toFixed(2)}, want ~3`);
    } finally {
      for (const loop of loops) loop.kill("SIGKILL");
      await Promise.all(loops.map((loop) => loop.status));
    }
  } finally {
    await destroyCgroup(light);
    await destroyCgroup(heavy);
  }
});
