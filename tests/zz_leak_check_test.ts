/**
 * Runs after every other test file (deno test sorts files by path): whatever the suite
 * created must be gone: job and test cgroups, mounts, temporary folders, child processes.
 */
import assert from "node:assert/strict";
import { rootTest } from "./helpers/root.ts";

function ownCgroupChildren(): string[] {
  const leftovers: string[] = [];
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n");
  for (const line of Deno.readTextFileSync("/proc/self/cgroup").trim().split("\n")) {
    const [, controllers, path] = line.split(":");
    const fs = controllers === "" ? "cgroup2" : "cgroup";
    for (const mount of mounts) {
      const fields = mount.split(" ");
      const separator = fields.indexOf("-");
      if (separator < 0 || fields[separator + 1] !== fs) continue;
      const options = fields[separator + 3] ?? "";
      if (
        controllers !== "" && !controllers.split(",").every((c) => options.split(",").includes(c))
      ) {
        continue;
      }
      const dir = `${fields[4]}${path === "/" ? "" : path}`;
      try {
        for (const entry of Deno.readDirSync(dir)) {
          if (entry.isDirectory && entry.name.startsWith("ijr")) {
            leftovers.push(`${dir}/${entry.name}`);
          }
        }
      } catch { /* not readable: not ours */ }
    }
  }
  return [...new Set(leftovers)];
}

function childProcesses(): string[] {
  const children: string[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === Deno.pid) {
        children.push(`${entry.name} ${stat.slice(0, stat.lastIndexOf(")") + 1)}`);
      }
    } catch { /* ended meanwhile */ }
  }
  return children;
}

rootTest("leak check: no cgroup, mount, temporary folder or process is left by the suite", () => {
  assert.deepEqual(ownCgroupChildren(), []);
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter((l) =>
    /ijr/.test(l)
  );
  assert.deepEqual(mounts, []);
  // Only folders made since this test process started: others are not this run's.
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  const temps = [...Deno.readDirSync(tmp)]
    .map((e) => e.name)
    .filter((name) => /^ijr-(e2e|jobs|bench)-/.test(name))
    .filter((name) =>
      (Deno.statSync(`${tmp}/${name}`).mtime?.getTime() ?? 0) >= performance.timeOrigin
    );
  if (Deno.env.get("CI") === "true") assert.deepEqual(temps, []);
  else if (temps.length) console.error(`note: ${temps.length} ijr temp folders (other runs?)`);
  assert.deepEqual(childProcesses(), []);
});
