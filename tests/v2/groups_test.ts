/**
 * The users' groups (lib/cgroup/groups.ts) on the real cgroup v2 kernel: a group passes the
 * jobs' controllers on in its cgroup.subtree_control and, holding no processes, refuses one
 * (the no-internal-processes rule); pids.max on alice's group holds fork bombs in two of her
 * jobs at 30 while a job of bob's starts and runs to completion, under pids.max 60 on the job
 * parent; memory.max on her group OOM-kills her job under its own larger limit, not bob's.
 * Every job and group is gone afterwards.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  type CgroupController,
  createCgroupController,
  resolveJobLimits,
  userGroupName,
} from "../../lib/cgroup/mod.ts";
import {
  CGROUP_ROOT,
  commandIn,
  errnoOf,
  keyedValue,
  procsOf,
  readText,
  spawnIn,
  v2Test,
  waitFor,
  writeValue,
} from "./guest.ts";

const MiB = 1024 * 1024;
/** A job parent of this file's own, beside backend_test.ts's `ijr` and caps_test.ts's. */
const PARENT = `${CGROUP_ROOT}/ijr-test.slice/runner/groups`;
const ALICE = userGroupName("alice");
const BOB = userGroupName("bob");
/** The static probe (tests/fixtures/probe.c), which the guest image carries in build/. */
const PROBE = fileURLToPath(new URL("../../build/probe", import.meta.url));

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Runs `fn` with a controller whose job parent is {@link PARENT}; removes it afterwards. */
async function withController(fn: (cgroups: CgroupController) => Promise<void>): Promise<void> {
  const cgroups = await createCgroupController({ parent: "groups" });
  try {
    await fn(cgroups);
  } finally {
    await cgroups.removeStale(new Set());
    await cgroups.removeEmptyParents();
  }
  strictEqual(await exists(PARENT), false, `${PARENT} is left behind`);
}

/** The highest pids.current each of `dirs` showed while `during` ran (sampled every 20 ms). */
async function highestWhile<T>(
  dirs: readonly string[],
  during: Promise<T>,
): Promise<{ highest: number[]; result: T }> {
  const highest = dirs.map(() => 0);
  let done = false;
  const settled = during.finally(() => done = true);
  while (!done) {
    const counts = await Promise.all(dirs.map((dir) => readText(`${dir}/pids.current`)));
    counts.forEach((count, index) => highest[index] = Math.max(highest[index], Number(count)));
    await Promise.race([settled.catch(() => {}), new Promise((r) => setTimeout(r, 20))]);
  }
  return { highest, result: await settled };
}

v2Test("groups: a group enables the jobs' controllers and may hold no process", async () => {
  await withController(async (cgroups) => {
    const job = await cgroups.create("job-1", await resolveJobLimits({}), ALICE);
    const group = `${PARENT}/${ALICE}`;
    strictEqual(job.cloneIntoDir, `${group}/job-1`);
    strictEqual(await readText(`${group}/cgroup.controllers`), "cpu io memory pids");
    strictEqual(await readText(`${group}/cgroup.subtree_control`), "cpu io memory pids");
    strictEqual(await readText(`${job.cloneIntoDir}/cgroup.controllers`), "cpu io memory pids");
    deepStrictEqual(await procsOf(group), []);
    // The kernel keeps groups free of processes: with controllers enabled below it, a group
    // refuses a process (moving one there would break its jobs' limits).
    const sleeper = new Deno.Command("sleep", { args: ["600"] }).spawn();
    try {
      strictEqual(await errnoOf(writeValue(`${group}/cgroup.procs`, String(sleeper.pid))), "EBUSY");
    } finally {
      sleeper.kill("SIGKILL");
      await sleeper.status;
    }
    // The job's program starts in the job's cgroup, below the group.
    const out = await commandIn(job.cloneIntoDir!, ["cat", "/proc/self/cgroup"]).output();
    strictEqual(
      new TextDecoder().decode(out.stdout),
      `0::/ijr-test.slice/runner/groups/${ALICE}/job-1\n`,
    );
    await job.remove();
    strictEqual(await exists(group), false, "the group goes with its last job");
  });
});

v2Test("groups: alice's fork bombs stay at her pids.max 30 and bob's job still runs", async () => {
  await withController(async (cgroups) => {
    // What ijrd does with --max-pids 60 and a per-user cap of 30.
    await cgroups.capAllJobs({ pids: 60 });
    await cgroups.capEveryGroup({ pids: 30 });
    // Each job keeps the default limit (1024): only the caps can stop the bombs.
    const limits = await resolveJobLimits({});
    const jobs = [
      await cgroups.create("bomb-a", limits, ALICE),
      await cgroups.create("bomb-b", limits, ALICE),
    ];
    const group = `${PARENT}/${ALICE}`;
    const dirs = jobs.map((job) => job.cloneIntoDir!);
    deepStrictEqual(dirs, [`${group}/bomb-a`, `${group}/bomb-b`]);
    strictEqual(await readText(`${PARENT}/pids.max`), "60");
    strictEqual(await readText(`${group}/pids.max`), "30");
    deepStrictEqual(await cgroups.readGroupCaps(ALICE), { pids: 30, memoryBytes: undefined });
    // Writing cgroup.procs moves a process, which pids.max does not refuse (only forks count):
    // both bombs join first and wait at a gate, so neither joins on top of a full cap.
    const gate = await Deno.makeTempDir({ prefix: "ijr-groups-gate-" });
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
    const bobJob = await cgroups.create("bob-work", limits, BOB);
    const bobGroup = `${PARENT}/${BOB}`;
    try {
      await Deno.writeTextFile(`${gate}/open`, "");
      // Forks are slow under emulation: the cap fills within seconds, then stays full.
      strictEqual(
        await waitFor(async () => Number(await readText(`${group}/pids.current`)) === 30, 20_000),
        true,
        `pids.current of alice's group is ${await readText(`${group}/pids.current`)}, not 30`,
      );
      // Bob's job starts while alice's bombs fill her cap, forks five processes and ends.
      strictEqual(bobJob.cloneIntoDir, `${bobGroup}/bob-work`);
      strictEqual(await readText(`${bobGroup}/pids.max`), "30");
      const bob = commandIn(bobJob.cloneIntoDir!, [
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do sleep 2 & done; wait; echo ran 5",
      ]).output();
      const { highest, result: out } = await highestWhile([group, PARENT], bob);
      strictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
      strictEqual(new TextDecoder().decode(out.stdout), "ran 5\n");
      strictEqual(highest[0], 30, "alice's bombs stay at her cap while bob's job runs");
      ok(highest[1] <= 60, `all jobs together reached ${highest[1]} tasks`);
      // The kernel's own records, where it keeps them: bob's shell and five sleeps on top.
      if (await exists(`${group}/pids.peak`)) {
        strictEqual(await readText(`${group}/pids.peak`), "30");
        strictEqual(await readText(`${bobGroup}/pids.peak`), "6");
        strictEqual(await readText(`${PARENT}/pids.peak`), "36");
      }
      // Refused forks are counted at the cgroup whose limit refused them (alice's group) since
      // Linux 6.12, before that at the forking one (her jobs): the kernel refused some.
      const refused = await Promise.all(
        [group, ...dirs].map((dir) => keyedValue(`${dir}/pids.events`, "max")),
      );
      ok(refused.some((count) => count > 0), `pids.events max of group, jobs: ${refused}`);
      // The cap is shared: both bombs hold tasks, 30 together.
      const counts = await Promise.all(
        dirs.map(async (dir) => Number(await readText(`${dir}/pids.current`))),
      );
      ok(counts.every((count) => count > 0), `tasks per job: ${counts}`);
      strictEqual(counts[0] + counts[1], 30, `tasks per job: ${counts}`);
    } finally {
      for (const job of jobs) await job.killAll();
      await bobJob.killAll();
      await Deno.remove(gate, { recursive: true });
    }
    for (const bomb of bombs) strictEqual((await bomb.status).signal, "SIGKILL");
    for (const dir of dirs) deepStrictEqual(await procsOf(dir), []);
    await jobs[0].remove();
    strictEqual(await exists(group), true, "a group stays while a job is in it");
    await jobs[1].remove();
    await bobJob.remove();
    strictEqual(await exists(group), false, "alice's group is left behind");
    strictEqual(await exists(bobGroup), false, "bob's group is left behind");
    strictEqual(await cgroups.readGroupCaps(ALICE), undefined);
  });
});

v2Test(
  "groups: past memory.max 48m on alice's group her job is OOM-killed, bob's not",
  async () => {
    await withController(async (cgroups) => {
      await cgroups.capGroup(ALICE, { memoryBytes: 48 * MiB });
      const limits = await resolveJobLimits({ memoryBytes: 128 * MiB });
      const alice = await cgroups.create("alice-big", limits, ALICE);
      const bob = await cgroups.create("bob-big", limits, BOB);
      const group = `${PARENT}/${ALICE}`;
      try {
        strictEqual(await readText(`${group}/memory.max`), "50331648");
        strictEqual(await readText(`${group}/memory.swap.max`), "0");
        deepStrictEqual(await cgroups.readGroupCaps(ALICE), {
          pids: undefined,
          memoryBytes: 50331648,
        });
        deepStrictEqual(await cgroups.readGroupCaps(BOB), {
          pids: undefined,
          memoryBytes: undefined,
        });
        strictEqual(await readText(`${alice.cloneIntoDir}/memory.max`), "134217728");
        const dd64 = ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"];
        // 64 MiB do not fit alice's 48, though her job's own limit is 128 ...
        const out = await commandIn(alice.cloneIntoDir!, dd64).output();
        strictEqual(out.signal, "SIGKILL");
        // ... the job never reached its own limit; the group reached its cap.
        strictEqual(await keyedValue(`${alice.cloneIntoDir}/memory.events`, "max"), 0);
        ok(await keyedValue(`${group}/memory.events`, "max") > 0);
        strictEqual(await keyedValue(`${alice.cloneIntoDir}/memory.events`, "oom_kill"), 1);
        strictEqual((await alice.usage()).oomKilled, true);
        // ... while the same 64 MiB in bob's group are fine: the cap is alice's alone.
        const fits = await commandIn(bob.cloneIntoDir!, dd64).output();
        strictEqual(fits.code, 0, new TextDecoder().decode(fits.stderr));
        strictEqual((await bob.usage()).oomKilled, false);
      } finally {
        for (const job of [alice, bob]) await job.killAll();
        for (const job of [alice, bob]) await job.remove();
      }
      strictEqual(await exists(group), false, "alice's group is left behind");
      strictEqual(await exists(`${PARENT}/${BOB}`), false, "bob's group is left behind");
    });
  },
);
