/**
 * A full state disk (a small tmpfs here): starts fail with RESOURCE_EXHAUSTED naming the
 * disk, never INTERNAL; a job that ends meanwhile is still recorded (the room for its final
 * record was taken when it started); list and status keep working; and when space returns
 * starts work again, with nothing to restart.
 */
import assert from "node:assert/strict";
import { JobManager } from "../../lib/job/mod.ts";
import { busyboxRootfsDir } from "../helpers/busybox.ts";
import { FixtureRootfs, startBusybox } from "../helpers/jobs.ts";
import { rootTest } from "../helpers/root.ts";

async function run(command: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(command, { args, stderr: "piped" }).output();
  if (!out.success) throw new Error(`${command}: ${new TextDecoder().decode(out.stderr)}`);
}

/** Fills the file system of `path` to the last byte; returns the filler's path. */
function fill(dir: string): string {
  const filler = `${dir}/filler`;
  const file = Deno.openSync(filler, { write: true, create: true });
  const block = new Uint8Array(64 * 1024);
  try {
    for (let size = block.length; size >= 1; size = Math.floor(size / 2)) {
      while (true) {
        try {
          file.writeSync(block.subarray(0, size));
        } catch {
          break; // ENOSPC at this size: try smaller writes until not even one byte fits
        }
      }
    }
  } finally {
    file.close();
  }
  return filler;
}

rootTest(
  "full state disk: starts are RESOURCE_EXHAUSTED, a job's end is still recorded, and it recovers",
  async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "ijr-jobs-" });
    await run("mount", ["-t", "tmpfs", "-o", "size=4m,mode=0700", "ijr-test-full-disk", stateDir]);
    const rootfs = new FixtureRootfs({ busybox: await busyboxRootfsDir() });
    let manager: JobManager | undefined;
    try {
      manager = await JobManager.open({ stateDir, rootfs });
      // A job with a record of some size: its final record must fit in the room it took.
      const running = await startBusybox(manager, ["sleep", "30"], {
        env: Array.from({ length: 40 }, (_, i) => `VARIABLE_${i}=${"v".repeat(40)}`),
      });
      await manager.settled();
      const filler = fill(stateDir);

      await assert.rejects(startBusybox(manager, ["true"]), (error: Error & { code?: string }) => {
        assert.equal(error.code, "RESOURCE_EXHAUSTED");
        assert.match(
          error.message,
          new RegExp(`^the state disk \\(${stateDir}\\) is full: .*: no space left on device$`),
        );
        return true;
      });
      // Serving what it has: list and status.
      assert.equal(manager.list().map((j) => j.id).join(), running.id);
      assert.equal(manager.get(running.id)?.state, "running");

      // The job ends while the disk is full: its end is on disk all the same.
      const end = await manager.stop(running.id, { graceMs: 500 });
      assert.equal(end.state, "stopped");
      const record = JSON.parse(Deno.readTextFileSync(`${stateDir}/jobs/${running.id}/job.json`));
      assert.equal(record.state, "stopped");
      assert.equal(record.message, "stopped by request");
      assert.equal(record.env.length, 40);

      // Space returns: the next start works, with no restart of anything.
      Deno.removeSync(filler);
      const job = await startBusybox(manager, ["echo", "back"]);
      assert.equal((await manager.wait(job.id)).exitCode, 0);
    } finally {
      await manager?.shutdown({ graceMs: 500 });
      await run("umount", [stateDir]);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
);
