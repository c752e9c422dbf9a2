/**
 * One full job through the engine (lib/job) on the cgroup v2 kernel: namespaces, overlay,
 * pivot_root and CLONE_INTO_CGROUP all work there, the job's cgroup carries its limits while
 * it runs, stop ends it through the cgroup, and nothing of it is left afterwards.
 */
import { ok, strictEqual } from "node:assert/strict";
import { createCgroupController, userGroupName } from "../../lib/cgroup/mod.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import { JobManager, type JobStatus } from "../../lib/job/mod.ts";
import type { RootfsProvider } from "../../lib/rootfs/mod.ts";
import { busyboxRootfsDir } from "../helpers/busybox.ts";
import { CGROUP_ROOT, keyedValue, procsOf, readText, v2Test, waitFor } from "./guest.ts";

const MiB = 1024 * 1024;
const JOB_PARENT = `${CGROUP_ROOT}/ijr-test.slice/runner/ijr`;
/** Every job's cgroup is in its owner's group (the jobs here are all owned by "v2-lane"). */
const GROUP = `${JOB_PARENT}/${userGroupName("v2-lane")}`;

/** The busybox tree as the one rootfs "busybox" (the store itself is tested on its own). */
async function busyboxProvider(): Promise<RootfsProvider> {
  const path = await busyboxRootfsDir();
  return {
    acquire(name: string) {
      if (name !== "busybox") throw new IjrError("NOT_FOUND", `rootfs ${name} not found`);
      return { name, path, release() {} };
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function outputOf(manager: JobManager, id: string): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of manager.output(id)) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

/** Runs `fn` with a manager over a fresh state directory; shuts it down and cleans up. */
async function withManager(fn: (manager: JobManager) => Promise<void>): Promise<void> {
  const stateDir = await Deno.makeTempDir({ prefix: "ijr-v2-engine-" });
  const cgroups = await createCgroupController();
  const manager = await JobManager.open({ stateDir, rootfs: await busyboxProvider(), cgroups });
  try {
    await fn(manager);
  } finally {
    await manager.shutdown({ graceMs: 0 });
    await Deno.remove(stateDir, { recursive: true });
  }
}

v2Test("engine: a job runs isolated in its rootfs, in its own cgroup, and exits", async () => {
  await withManager(async (manager) => {
    const started = await manager.start({
      owner: "v2-lane",
      rootfs: "busybox",
      argv: ["sh", "-c", 'echo "pid=$$"; hostname; cat /proc/self/cgroup; ls /; exit 7'],
    });
    console.log(`started ${started.id} as pid ${started.pid}`);
    const done: JobStatus = await manager.wait(started.id);
    console.log(`ended: ${done.state} ${done.exitCode}`);
    const output = await outputOf(manager, started.id);
    console.log(`output read: ${output.length} characters`);
    strictEqual(done.state, "exited", `${done.message ?? ""}\n${output}`);
    strictEqual(done.exitCode, 7);
    strictEqual(
      output,
      [
        // PID namespace: the shell is the first process after the job's init (PID 1).
        "pid=2",
        // UTS namespace: the hostname is the job ID.
        started.id,
        // cgroup namespace rooted at the job's cgroup, and pure v2 (one line).
        "0::/",
        // The overlay of the busybox tree after pivot_root: its top level, nothing of the guest.
        ...["bin", "dev", "etc", "proc", "root", "sys", "tmp", "usr", "var"],
        "",
      ].join("\n"),
    );
    // The job's cgroup goes just after its end is reported; settled() waits for that.
    await manager.settled();
    strictEqual(await exists(`${GROUP}/${started.id}`), false);
  });
});

v2Test(
  "engine: the job's cgroup has its limits while it runs; stop kills it and removes it",
  async () => {
    await withManager(async (manager) => {
      const started = await manager.start({
        owner: "v2-lane",
        rootfs: "busybox",
        argv: ["sleep", "600"],
        limits: { cpuShares: 512, memoryBytes: 64 * MiB, pids: 32 },
      });
      const dir = `${GROUP}/${started.id}`;
      try {
        strictEqual(await readText(`${dir}/cpu.weight`), "59");
        strictEqual(await readText(`${dir}/memory.max`), "67108864");
        strictEqual(await readText(`${dir}/memory.swap.max`), "0");
        strictEqual(await readText(`${dir}/pids.max`), "32");
        // CLONE_INTO_CGROUP: the job's init (and so everything it starts) is in the cgroup.
        ok(started.pid !== undefined);
        strictEqual(
          await waitFor(async () => (await procsOf(dir)).includes(started.pid!), 5_000),
          true,
        );
        strictEqual(await keyedValue(`${dir}/cgroup.events`, "populated"), 1);
      } finally {
        const stopped = await manager.stop(started.id, { graceMs: 0 });
        strictEqual(stopped.state, "stopped");
      }
      // The job's cgroup goes just after its end is reported; settled() waits for that.
      await manager.settled();
      strictEqual(await exists(dir), false);
    });
  },
);

v2Test("engine: a job that outgrows its memory is reported as OOM-killed", async () => {
  await withManager(async (manager) => {
    const started = await manager.start({
      owner: "v2-lane",
      rootfs: "busybox",
      argv: ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
      limits: { memoryBytes: 32 * MiB },
    });
    const done = await manager.wait(started.id);
    strictEqual(done.oomKilled, true, `${done.state} ${done.exitCode} ${done.message ?? ""}`);
    // The job's cgroup goes just after its end is reported; settled() waits for that.
    await manager.settled();
    strictEqual(await exists(`${GROUP}/${started.id}`), false);
  });
});
