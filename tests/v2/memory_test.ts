/**
 * memory.max and memory.swap.max on the real kernel, and a real OOM kill reported in
 * memory.events.
 */
import { ok, strictEqual } from "node:assert/strict";
import {
  commandIn,
  destroyCgroup,
  keyedValue,
  makeCgroup,
  readText,
  v2Test,
  writeValue,
} from "./guest.ts";

const MiB = 1024 * 1024;

v2Test("memory.max and memory.swap.max: exact values, kernel rounds to pages", async () => {
  const dir = await makeCgroup("memory");
  try {
    strictEqual(await readText(`${dir}/memory.max`), "max");
    strictEqual(await readText(`${dir}/memory.swap.max`), "max");
    await writeValue(`${dir}/memory.max`, String(64 * MiB));
    strictEqual(await readText(`${dir}/memory.max`), "67108864");
    // The limit is kept in pages: a value one byte past a page boundary reads back rounded down.
    await writeValue(`${dir}/memory.max`, String(32 * MiB + 1));
    strictEqual(await readText(`${dir}/memory.max`), "33554432");
    await writeValue(`${dir}/memory.swap.max`, "0");
    strictEqual(await readText(`${dir}/memory.swap.max`), "0");
  } finally {
    await destroyCgroup(dir);
  }
});

v2Test("memory.events: a task that outgrows memory.max is OOM-killed and counted", async () => {
  const dir = await makeCgroup("oom");
  try {
    await writeValue(`${dir}/memory.max`, String(32 * MiB));
    await writeValue(`${dir}/memory.swap.max`, "0");
    strictEqual(await keyedValue(`${dir}/memory.events`, "oom_kill"), 0);
    // dd fills one 64 MiB buffer from /dev/zero: every page of it is touched and charged.
    const out = await commandIn(dir, ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"])
      .output();
    strictEqual(out.signal, "SIGKILL");
    strictEqual(await keyedValue(`${dir}/memory.events`, "oom_kill"), 1);
    ok(await keyedValue(`${dir}/memory.events`, "oom") >= 1);
    ok(await keyedValue(`${dir}/memory.events`, "max") >= 1);
    const peak = Number(await readText(`${dir}/memory.peak`));
    ok(peak > 16 * MiB && peak <= 32 * MiB, `memory.peak ${peak} is not near the 32 MiB limit`);
  } finally {
    await destroyCgroup(dir);
  }
});
