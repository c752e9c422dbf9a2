/**
 * The caps on all jobs (lib/cgroup's capAllJobs) on the real cgroup v2 kernel: pids.max on
 * the job parent holds a fork bomb spread over two jobs at the cap in total; memory.max on
 * the job parent OOM-kills a job still under its own memory.max. The files read back
 * exactly, and lifting the caps writes "max" back.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  type CgroupController,
  createCgroupController,
  resolveJobLimits,
} from "../../lib/cgroup/mod.ts";
import { parseMemTotal } from "../../lib/cgroup/host.ts";
import {
  CGROUP_ROOT,
  commandIn,
  keyedValue,
  procsOf,
  readText,
  spawnIn,
  v2Test,
  waitFor,
} from "./guest.ts";

const MiB = 1024 * 1024;
/** A job parent of this file's own, beside backend_test.ts's `ijr`. */
const PARENT = `${CGROUP_ROOT}/ijr-test.slice/runner/caps`;
/** The static probe (tests/fixtures/probe.c), which the guest image carries in build/. */
const PROBE = fileURLToPath(new URL("../../build/probe", import.meta.url));

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Runs `fn` with a controller whose job parent is {@link PARENT}; removes it afterwards. */
async function withController(fn: (cgroups: CgroupController) => Promise<void>): Promise<void> {
  const cgroups = await createCgroupController({ parent: "caps" });
  try {
    await fn(cgroups);
  } finally {
    await cgroups.removeStale(new Set());
    await cgroups.removeEmptyParents();
  }
  strictEqual(await exists(PARENT), false, `${PARENT} is left behind`);
}

v2Test("caps: a fork bomb in two jobs stays at pids.max 40 on the job parent", async () => {
  await withController(async (cgroups) => {
    await cgroups.capAllJobs({ pids: 40 });
    deepStrictEqual(cgroups.parentDirs, [PARENT]);
    strictEqual(await readText(`${PARENT}/pids.max`), "40");
    deepStrictEqual(await cgroups.readAllJobsCaps(), { pids: 40, memoryBytes: undefined });
    // Each job keeps the default limit (1024): only the cap on all jobs can stop the bombs.
    const limits = await resolveJobLimits({});
    const jobs = [await cgroups.create("bomb-a", limits), await cgroups.create("bomb-b", limits)];
    const dirs = jobs.map((job) => job.cloneIntoDir!);
    for (const dir of dirs) strictEqual(await readText(`${dir}/pids.max`), "1024");
    // Writing cgroup.procs moves a process, which pids.max does not refuse (only forks count):
    // both bombs join first and wait at a gate, so neither joins on top of a full cap.
    const gate = await Deno.makeTempDir({ prefix: "ijr-caps-gate-" });
    const bombs = await Promise.all(dirs.map((dir) =>
      spawnIn(dir, [
        "sh",
        "-c",
        'while [ ! -e "$1/open" ]; do sleep 0.01; done; exec "$2" forkbomb',
        "sh",
        gate,
        PROBE,
      ])
    ));
    try {
      await Deno.writeTextFile(`${gate}/open`, "");
      // Forks are slow under emulation: the cap fills within seconds, then stays full.
      strictEqual(
        await waitFor(async () => Number(await readText(`${PARENT}/pids.current`)) === 40, 20_000),
        true,
        `pids.current of the parent is ${await readText(`${PARENT}/pids.current`)}, not 40`,
      );
      let highest = 0;
      for (let sample = 0; sample < 20; sample++) {
        highest = Math.max(highest, Number(await readText(`${PARENT}/pids.current`)));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      strictEqual(highest, 40, "the bombs fill the cap exactly and go no further");
      if (await exists(`${PARENT}/pids.peak`)) {
        strictEqual(await readText(`${PARENT}/pids.peak`), "40");
      }
      // The cap is shared: both jobs hold tasks, 40 together.
      const counts = await Promise.all(
        dirs.map(async (dir) => Number(await readText(`${dir}/pids.current`))),
      );
      ok(counts.every((count) => count > 0), `tasks per job: ${counts}`);
      strictEqual(counts[0] + counts[1], 40, `tasks per job: ${counts}`);
    } finally {
      for (const job of jobs) await job.killAll();
      await Deno.remove(gate, { recursive: true });
    }
    for (const bomb of bombs) strictEqual((await bomb.status).signal, "SIGKILL");
    for (const dir of dirs) deepStrictEqual(await procsOf(dir), []);
    for (const job of jobs) await job.remove();
    await cgroups.capAllJobs({});
    strictEqual(await readText(`${PARENT}/pids.max`), "max");
    deepStrictEqual(await cgroups.readAllJobsCaps(), { pids: undefined, memoryBytes: undefined });
  });
});

v2Test(
  "caps: past memory.max 48m on the parent a job is OOM-killed under its own 128m",
  async () => {
    await withController(async (cgroups) => {
      await cgroups.capAllJobs({ memoryBytes: 48 * MiB });
      strictEqual(await readText(`${PARENT}/memory.max`), "50331648");
      strictEqual(await readText(`${PARENT}/memory.swap.max`), "0");
      deepStrictEqual(await cgroups.readAllJobsCaps(), { pids: undefined, memoryBytes: 50331648 });
      deepStrictEqual(await cgroups.memoryAvailable(), { bytes: 50331648, source: PARENT });
      const limits = await resolveJobLimits({ memoryBytes: 128 * MiB });
      const small = await cgroups.create("under-cap", limits);
      const big = await cgroups.create("over-cap", limits);
      try {
        strictEqual(await readText(`${big.cloneIntoDir}/memory.max`), "134217728");
        // One at a time, so the cap is the only reason for a kill: 16 MiB fit under 48 ...
        const fits = await commandIn(small.cloneIntoDir!, [
          "dd",
          "if=/dev/zero",
          "of=/dev/null",
          "bs=16M",
          "count=1",
        ]).output();
        strictEqual(fits.code, 0, new TextDecoder().decode(fits.stderr));
        // ... 64 MiB do not, though the job's own limit is 128.
        const out = await commandIn(big.cloneIntoDir!, [
          "dd",
          "if=/dev/zero",
          "of=/dev/null",
          "bs=64M",
          "count=1",
        ]).output();
        strictEqual(out.signal, "SIGKILL");
        // The job never reached its own limit; the parent reached its cap.
        strictEqual(await keyedValue(`${big.cloneIntoDir}/memory.events`, "max"), 0);
        ok(await keyedValue(`${PARENT}/memory.events`, "max") > 0);
        strictEqual(await keyedValue(`${big.cloneIntoDir}/memory.events`, "oom_kill"), 1);
        strictEqual(await keyedValue(`${small.cloneIntoDir}/memory.events`, "oom_kill"), 0);
        strictEqual((await big.usage()).oomKilled, true);
        strictEqual((await small.usage()).oomKilled, false);
      } finally {
        await big.killAll();
        await small.killAll();
        await big.remove();
        await small.remove();
      }
      await cgroups.capAllJobs({});
      strictEqual(await readText(`${PARENT}/memory.max`), "max");
      strictEqual(await readText(`${PARENT}/memory.swap.max`), "max");
      // Without the cap nothing on the path limits memory in this guest: the host's MemTotal.
      deepStrictEqual(await cgroups.memoryAvailable(), {
        bytes: parseMemTotal(await Deno.readTextFile("/proc/meminfo")),
        source: "/proc/meminfo",
      });
    });
  },
);
