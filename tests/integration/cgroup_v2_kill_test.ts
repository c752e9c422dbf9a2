/**
 * The v2 kill and removal paths against the real kernel. This host is v1 for controllers,
 * but its controller-less cgroup2 (/sys/fs/cgroup/unified) still has cgroup.procs,
 * cgroup.kill, cgroup.freeze and cgroup.events, which is all these paths use.
 */
import assert from "node:assert/strict";
import { rootTest } from "../helpers/root.ts";
import { type CgroupFs, hostCgroupFs } from "../../lib/cgroup/fs.ts";
import { killAllV2, listProcsRecursive } from "../../lib/cgroup/kill.ts";
import { removeCgroupTree } from "../../lib/cgroup/remove.ts";
import { statusWithin } from "../helpers/cgroup_support.ts";

async function unifiedOwnDir(): Promise<string | undefined> {
  const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
  const line = mountinfo.split("\n").find((candidate) => candidate.includes(" - cgroup2 "));
  if (!line) return undefined;
  const own = (await Deno.readTextFile("/proc/self/cgroup")).split("\n")
    .find((entry) => entry.startsWith("0::"))!.slice(3);
  const mountPoint = line.split(" ")[4];
  return own === "/" ? mountPoint : `${mountPoint}${own}`;
}

/** A job-like tree in the real cgroup2: a cgroup with a child cgroup, both with processes. */
async function populatedTree(
  base: string,
): Promise<{ dir: string; children: Deno.ChildProcess[] }> {
  const dir = `${base}/ijr-test-v2-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(dir);
  await Deno.mkdir(`${dir}/nested`);
  const spawn = (target: string) =>
    new Deno.Command("sh", {
      // Two background sleeps and the shell itself (as sleep): three processes per cgroup.
      args: [
        "-c",
        `echo 0 > ${target}/cgroup.procs || exit 1; sleep 60 & sleep 60 & exec sleep 60`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  const children = [spawn(dir), spawn(`${dir}/nested`)];
  for (let tries = 0; tries < 100; tries++) {
    if ((await listProcsRecursive(hostCgroupFs, dir)).length === 6) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { dir, children };
}

/** The host's cgroup file system without cgroup.kill, as on kernels before 5.14. */
const withoutCgroupKill: CgroupFs = {
  ...hostCgroupFs,
  exists: (path) =>
    path.endsWith("/cgroup.kill") ? Promise.resolve(false) : hostCgroupFs.exists(path),
};

for (
  const [name, fs] of [["cgroup.kill", hostCgroupFs], [
    "freeze fallback",
    withoutCgroupKill,
  ]] as const
) {
  rootTest(
    `cgroup v2 (real kernel): ${name} kills a whole tree and removal leaves nothing`,
    async () => {
      const base = await unifiedOwnDir();
      assert.ok(base, "no cgroup2 mounted");
      const { dir, children } = await populatedTree(base);
      try {
        assert.equal((await listProcsRecursive(hostCgroupFs, dir)).length, 6);
        await killAllV2(fs, dir, { timeoutMs: 5_000 });
        assert.deepEqual(await listProcsRecursive(hostCgroupFs, dir), []);
        for (const child of children) {
          assert.equal((await statusWithin(child, 5_000)).signal, "SIGKILL");
        }
        if (fs === withoutCgroupKill) {
          assert.equal(await Deno.readTextFile(`${dir}/cgroup.freeze`), "0\n");
        }
      } finally {
        await killAllV2(hostCgroupFs, dir);
        await removeCgroupTree(hostCgroupFs, dir);
      }
      assert.equal(
        await Deno.lstat(dir).then(() => true, () => false),
        false,
      );
    },
  );
}
