/**
 * Finished jobs on a shared worker: kept by count and age and then removed with their
 * folders (while running and at start-up), deleted on request, and held in memory as
 * summaries whose argv and env come back from disk.
 */
import assert from "node:assert/strict";
import { JobManager } from "../../lib/job/mod.ts";
import { busyboxRootfsDir } from "../helpers/busybox.ts";
import { FixtureRootfs, startBusybox, withManager } from "../helpers/jobs.ts";
import { rootTest } from "../helpers/root.ts";

async function runToEnd(manager: JobManager, argv: string[]): Promise<string> {
  const job = await startBusybox(manager, argv);
  await manager.wait(job.id);
  return job.id;
}

/** The job folders that hold a record (the one made ahead for the next start has none). */
function jobFolders(stateDir: string): string[] {
  return [...Deno.readDirSync(`${stateDir}/jobs`)]
    .map((entry) => entry.name)
    .filter((id) => hasRecord(stateDir, id))
    .sort();
}

function hasRecord(stateDir: string, id: string): boolean {
  try {
    return Deno.statSync(`${stateDir}/jobs/${id}/job.json`).isFile;
  } catch {
    return false;
  }
}

rootTest("retention: past --retain the oldest finished jobs go, with their folders", async () => {
  await withManager(async (manager, { stateDir }) => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await runToEnd(manager, ["echo", String(i)]));
    await manager.settled();
    assert.deepEqual(manager.list({ includeFinished: true }).map((j) => j.id), ids.slice(2));
    for (const id of ids.slice(0, 2)) {
      assert.equal(manager.get(id), undefined);
      assert.equal(hasRecord(stateDir, id), false);
      assert.throws(() => Deno.statSync(`${stateDir}/jobs/${id}`), Deno.errors.NotFound);
    }
    for (const id of ids.slice(2)) assert.equal(hasRecord(stateDir, id), true);
    // A running job is never counted against it, nor removed.
    const running = await startBusybox(manager, ["sleep", "30"]);
    await runToEnd(manager, ["true"]);
    await manager.settled();
    assert.equal(manager.list({ includeFinished: true }).length, 4);
    assert.equal(manager.summary(running.id)?.state, "running");
    await manager.stop(running.id, { graceMs: 500 });
  }, { retain: { count: 3 } });
});

rootTest("retention: past --retain-for finished jobs go while ijrd runs", async () => {
  await withManager(async (manager, { stateDir }) => {
    const first = await runToEnd(manager, ["true"]);
    await new Promise((r) => setTimeout(r, 300));
    const second = await runToEnd(manager, ["true"]);
    assert.deepEqual(manager.list({ includeFinished: true }).map((j) => j.id), [first, second]);
    // The first ages out about 300 ms before the second, each by its own end time.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(manager.list({ includeFinished: true }).map((j) => j.id), [second]);
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(manager.list({ includeFinished: true }), []);
    await manager.settled();
    assert.deepEqual(jobFolders(stateDir), []);
  }, { retain: { forMs: 700 } });
});

rootTest("retention: applied at start-up to the jobs a previous ijrd left", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "ijr-jobs-" });
  const rootfs = new FixtureRootfs({ busybox: await busyboxRootfsDir() });
  try {
    const first = await JobManager.open({ stateDir, rootfs });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await runToEnd(first, ["true"]));
    await first.shutdown();
    const second = await JobManager.open({ stateDir, rootfs, retain: { count: 2 } });
    await second.settled();
    assert.deepEqual(second.list({ includeFinished: true }).map((j) => j.id), ids.slice(2));
    assert.deepEqual(jobFolders(stateDir), ids.slice(2).sort());
    await second.shutdown();
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

rootTest(
  "delete: a finished job goes now; a running one is refused; a missing one is NOT_FOUND",
  async () => {
    await withManager(async (manager, { stateDir }) => {
      const done = await runToEnd(manager, ["echo", "bye"]);
      const running = await startBusybox(manager, ["sleep", "30"]);
      await assert.rejects(manager.delete(running.id), {
        code: "FAILED_PRECONDITION",
        message: `job ${running.id} is running: stop it first`,
      });
      await manager.delete(done);
      assert.equal(manager.get(done), undefined);
      assert.equal(manager.summary(done), undefined);
      assert.throws(() => Deno.statSync(`${stateDir}/jobs/${done}`), Deno.errors.NotFound);
      await assert.rejects(manager.delete(done), {
        code: "NOT_FOUND",
        message: `job ${done} not found`,
      });
      await manager.stop(running.id, { graceMs: 500 });
      await manager.delete(running.id);
      assert.equal(manager.list({ includeFinished: true }).length, 0);
    });
  },
);

rootTest(
  "memory: a finished job is a summary; its argv and env come back whole from disk",
  async () => {
    await withManager(async (manager) => {
      // 100 KiB of argument, and an environment.
      const long = "x".repeat(100 * 1024);
      const job = await startBusybox(manager, ["echo", long], { env: ["A=1", "PATH=/bin"] });
      await manager.wait(job.id);
      const summary = manager.summary(job.id)!;
      assert.equal("argv" in summary, false);
      assert.equal("env" in summary, false);
      assert.equal(summary.command.length, 200);
      assert.equal(summary.command, `echo ${"x".repeat(194)}…`);
      assert.deepEqual(manager.list({ includeFinished: true }), [summary]);
      const whole = manager.get(job.id)!;
      assert.deepEqual(whole.argv, ["echo", long]);
      assert.deepEqual(whole.env, ["A=1", "PATH=/bin"]);
      assert.equal(whole.state, "exited");
    });
  },
);
