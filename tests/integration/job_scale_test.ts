/**
 * Scale and leaks: 1000 jobs running at once do not block other I/O (no thread per job),
 * and 200 jobs in a row leave no mount, fd, scratch folder or lease behind.
 */
import assert from "node:assert/strict";
import { DEFAULT_SCRATCH } from "../../lib/job/mod.ts";
import { startBusybox, withManager } from "../helpers/jobs.ts";
import { rootTest } from "../helpers/root.ts";

function mountCount(): number {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").length;
}

rootTest(
  "scale: 1000 concurrently running jobs leave file I/O responsive and are all reaped",
  async () => {
    await withManager(async (manager) => {
      const ids: string[] = [];
      for (let i = 0; i < 1000; i++) {
        const job = await startBusybox(manager, ["sleep", "3"]);
        ids.push(job.id);
      }
      assert.equal(
        manager.running +
          manager.list({ includeFinished: true }).filter((j) => j.state !== "running").length,
        1000,
      );
      // Each init dropped the daemon's memory it inherited: it holds a few hundred KiB of its
      // own, not a copy of the daemon's heap.
      const init = manager.get(ids[ids.length - 1])!;
      const anon = Number(
        Deno.readTextFileSync(`/proc/${init.pid}/status`).match(/RssAnon:\s+(\d+)/)![1],
      );
      assert.ok(anon < 4096, `the init holds ${anon} KiB of anonymous memory`);
      // No thread per job: the process's thread count stays that of an idle Deno, far below
      // one per job (a blocking waitpid per job would also exhaust the 32-thread pool).
      const threads = [...Deno.readDirSync("/proc/self/task")].length;
      assert.ok(threads < 64, `${threads} threads while 1000 jobs run`);
      // And file I/O on the blocking pool still works meanwhile.
      const file = await Deno.makeTempFile();
      for (let i = 0; i < 20; i++) {
        await Deno.writeTextFile(file, `line ${i}`);
        assert.equal(await Deno.readTextFile(file), `line ${i}`);
      }
      await Deno.remove(file);
      const finals = await Promise.all(ids.map((id) => manager.wait(id)));
      assert.equal(finals.filter((j) => j.state === "exited" && j.exitCode === 0).length, 1000);
      assert.equal(manager.running, 0);
    });
  },
);

for (const scratch of [DEFAULT_SCRATCH, { on: "disk" } as const]) {
  rootTest(
    `leaks: 200 sequential jobs leave no mount, fd, scratch folder or lease (${scratch.on} scratch)`,
    async () => {
      await withManager(async (manager, { stateDir, rootfs }) => {
        const first = await startBusybox(manager, ["true"]);
        await manager.wait(first.id);
        await manager.shutdown(); // waits for the first job's cleanup; the manager stays usable
        const fds = [...Deno.readDirSync("/proc/self/fd")].length;
        const mounts = mountCount();
        for (let i = 0; i < 200; i++) {
          const job = await startBusybox(manager, [
            "sh",
            "-c",
            "echo $$ > /tmp/x; echo $$ > /etc/y; true",
          ]);
          await manager.wait(job.id);
        }
        // A disk scratch folder is removed in the background; shutting down waits for it.
        await manager.shutdown();
        assert.equal([...Deno.readDirSync("/proc/self/fd")].length, fds);
        assert.equal(mountCount(), mounts);
        assert.equal(rootfs.leases.size, 0);
        const leftovers = [...Deno.readDirSync(`${stateDir}/jobs`)].flatMap((job) =>
          [...Deno.readDirSync(`${stateDir}/jobs/${job.name}`)].map((e) => e.name)
        );
        // Each finished job keeps exactly its record, its output and its init's end record.
        assert.equal(leftovers.filter((name) => name === "job.json").length, 201);
        assert.equal(leftovers.filter((name) => name === "output").length, 201);
        assert.equal(leftovers.filter((name) => name === "end").length, 201);
        assert.equal(leftovers.length, 603);
        assert.deepEqual([...Deno.readDirSync(`${stateDir}/mnt`)], []);
      }, { scratch });
    },
  );
}
