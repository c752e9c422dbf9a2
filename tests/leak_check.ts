/**
 * The suite's leak check, run by `make test` as its own step after the suite: whatever the
 * suite created must be gone: job and test cgroups, mounts, temporary folders, job inits and
 * daemons. The Makefile passes when the suite started (IJR_TEST_STARTED, milliseconds since
 * the epoch): only what was made since then is this run's. Not a *_test.ts file, so `deno
 * test tests/` never runs it in the middle of the suite.
 */
import assert from "node:assert/strict";
import { childCgroups, ownCgroupDirs } from "./helpers/own_cgroups.ts";
import { rootTest } from "./helpers/root.ts";

function ownCgroupChildren(): string[] {
  return ownCgroupDirs().flatMap(childCgroups).filter((dir) =>
    dir.slice(dir.lastIndexOf("/") + 1).startsWith("ijr")
  );
}

/** When the suite started (ms since the epoch); default: when this process started. */
const suiteStarted = Number(Deno.env.get("IJR_TEST_STARTED") ?? performance.timeOrigin);

/** When a process started, in ms since the epoch (its start in clock ticks after boot). */
function startedAt(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticksAfterBoot = Number(fields[19]); // field 22 of /proc/PID/stat
  const bootSeconds = Number(
    Deno.readTextFileSync("/proc/stat").match(/^btime (\d+)$/m)![1],
  );
  return bootSeconds * 1000 + ticksAfterBoot * 10; // USER_HZ is 100 on Linux
}

/** Job inits and ijrd processes started since the suite started, still alive. */
function leftoverProcesses(): string[] {
  const left: string[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
      const ours = name === "ijr-init" || /\bdaemon\.ts\b|\bijrd\b/.test(cmdline);
      // A second's slack: process start times have a resolution of 10 ms, the stamp of 1.
      if (ours && startedAt(stat) >= suiteStarted - 1000) left.push(`${entry.name} ${cmdline}`);
    } catch { /* ended meanwhile */ }
  }
  return left;
}

rootTest("leak check: no cgroup, mount, temporary folder or process is left by the suite", () => {
  assert.deepEqual(ownCgroupChildren(), []);
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter((l) =>
    /ijr/.test(l)
  );
  assert.deepEqual(mounts, []);
  // Only folders made since the suite started: others are not this run's.
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  const temps = [...Deno.readDirSync(tmp)]
    .map((e) => e.name)
    .filter((name) => /^ijr-(e2e|jobs|bench)-/.test(name))
    .filter((name) => (Deno.statSync(`${tmp}/${name}`).mtime?.getTime() ?? 0) >= suiteStarted);
  if (Deno.env.get("CI") === "true") assert.deepEqual(temps, []);
  else if (temps.length) console.error(`note: ${temps.length} ijr temp folders (other runs?)`);
  assert.deepEqual(leftoverProcesses(), []);
});
