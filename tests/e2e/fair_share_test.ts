/**
 * Sharing a worker, through the real ijrd and ijrctl: a job's output stops at its limit and
 * every stream of it ends normally; job delete, for its owner only; admission refusals;
 * retention when ijrd starts; and one user's fork bombs held at that user's cap while another
 * user's job starts and runs.
 */
import assert from "node:assert/strict";
import { userGroupName } from "../../lib/cgroup/mod.ts";
import {
  cleanupDaemon,
  jobCgroupsLeft,
  jobParentDirs,
  startDaemon,
  uploadBusybox,
} from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";
import { sleep, waitFor } from "../helpers/wait.ts";

rootTest(
  "fair share: the output limit, job delete, admission and retention through ijrd",
  async () => {
    let daemon = await startDaemon(["--max-output=64k", "--max-jobs-per-user=1", "--retain=2"]);
    try {
      await uploadBusybox(daemon);
      // Output past the limit: exactly 1000 bytes arrive, the stream ends, and ijrctl exits with
      // the job's status (the writer died of SIGXFSZ: 128+25).
      const flood = await daemon.ctl("alice", [
        "job",
        "start",
        "--rootfs=bb",
        "--max-output=1000",
        "--output",
        "--",
        "yes",
        "0123456789",
      ]);
      const [id, ...rest] = flood.stdout.split("\n");
      assert.equal(
        rest.join("\n"),
        "0123456789\n".repeat(90) + "0123456789",
        flood.stderr + daemon.stderr(),
      );
      assert.equal(flood.code, 153, flood.stderr);
      const status = await daemon.ctl("alice", ["job", "status", id]);
      assert.match(status.stdout, /^State: +stopped \(signal 25, output limit exceeded\)$/m);
      assert.match(status.stdout, /^Output limit: +1000 B$/m);
      assert.match(status.stdout, /^Output limit exceeded: +yes$/m);
      assert.match(status.stdout, /^Message: +output limit exceeded \(1000 bytes\)$/m);
      // A second stream of it, after the end, gets the same bytes.
      const again = await daemon.ctl("admin", ["job", "output", id]);
      assert.equal(again.stdout, "0123456789\n".repeat(90) + "0123456789");
      // Above the worker's limit: refused, naming the field and the flag.
      const greedy = await daemon.ctl("alice", [
        "job",
        "start",
        "--rootfs=bb",
        "--max-output=1m",
        "--",
        "true",
      ]);
      assert.equal(greedy.code, 1);
      assert.equal(
        greedy.stderr,
        "ijrctl job start: limits.max_output_bytes 1048576 is above this worker's limit of " +
          "65536 bytes (ijrd --max-output)\n",
      );

      // Admission: alice's one running job is her limit; bob still starts his.
      const sleeping = await daemon.ctl("alice", [
        "job",
        "start",
        "--rootfs=bb",
        "--",
        "sleep",
        "60",
      ]);
      const running = sleeping.stdout.trim();
      const refused = await daemon.ctl("alice", ["job", "start", "--rootfs=bb", "--", "true"]);
      assert.equal(refused.code, 1);
      assert.equal(
        refused.stderr,
        "ijrctl job start: alice already runs the limit of 1 jobs per user (--max-jobs-per-user); " +
          "try again when one ends\n",
      );
      const bob = await daemon.ctl("bob", [
        "job",
        "start",
        "--rootfs=bb",
        "--output",
        "--",
        "echo",
        "hi",
      ]);
      assert.equal(bob.code, 0, bob.stderr);
      const bobJob = bob.stdout.split("\n")[0];

      // Delete: not while it runs; not someone else's (it is not even there for them).
      const early = await daemon.ctl("alice", ["job", "delete", running]);
      assert.equal(early.stderr, `ijrctl job delete: job ${running} is running: stop it first\n`);
      const theirs = await daemon.ctl("bob", ["job", "delete", id]);
      assert.equal(theirs.stderr, `ijrctl job delete: job ${id} not found\n`);
      const mine = await daemon.ctl("alice", ["job", "delete", id]);
      assert.equal(mine.code, 0, mine.stderr);
      assert.equal(mine.stdout, `deleted job ${id}\n`);
      const gone = await daemon.ctl("admin", ["job", "status", id]);
      assert.equal(gone.stderr, `ijrctl job status: job ${id} not found\n`);
      await daemon.ctl("alice", ["job", "stop", running, "--grace=0s"]);

      // Retention at start-up: with --retain=2 only the newest two finished jobs come back.
      const more = await daemon.ctl("bob", [
        "job",
        "start",
        "--rootfs=bb",
        "--output",
        "--",
        "true",
      ]);
      const newest = more.stdout.split("\n")[0];
      await daemon.stop();
      daemon = await startDaemon(["--retain=2"], { dir: daemon.dir, port: daemon.port });
      const listed = await daemon.ctl("admin", ["job", "list", "--all", "--json"]);
      const ids = JSON.parse(listed.stdout).map((job: { id: string }) => job.id);
      assert.deepEqual(ids.sort(), [running, newest].sort());
      assert.equal(ids.includes(bobJob), false);
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function tasksIn(dir: string): Promise<number> {
  return Number(await Deno.readTextFile(`${dir}/pids.current`));
}

rootTest(
  "fair share: alice's fork bombs in two jobs stay at her --max-pids-per-user while bob's job starts and runs",
  async () => {
    // The worker's cap alone would let alice's bombs take every task; her own cap leaves bob
    // his. Each job keeps the default --pids (1024): only the caps can stop the bombs.
    const daemon = await startDaemon(["--max-pids=60", "--max-pids-per-user=30"]);
    const bombs: string[] = [];
    try {
      await uploadBusybox(daemon);
      assert.match(daemon.stderr(), /"userCaps":\{"pids":30,"memoryBytes":[0-9]+\}/);
      const parent = jobParentDirs(daemon.port).find((dir) => dir.includes("/pids"))!;
      const aliceGroup = `${parent}/${userGroupName("alice")}`;
      const bobGroup = `${parent}/${userGroupName("bob")}`;
      // Each bomb waits a second first, so both jobs are in before either fills the cap (a
      // job whose init cannot fork its command would fail to start, which is not the point).
      for (let i = 0; i < 2; i++) {
        const started = await daemon.ctl("alice", [
          "job",
          "start",
          "--rootfs=bb",
          "--",
          "sh",
          "-c",
          "sleep 1; exec probe forkbomb",
        ]);
        assert.equal(started.code, 0, started.stderr);
        bombs.push(started.stdout.trim());
      }
      assert.equal(await Deno.readTextFile(`${aliceGroup}/pids.max`), "30\n");
      if (!await waitFor(async () => await tasksIn(aliceGroup).catch(() => -1) === 30, 10_000)) {
        // Seen once in a full run (0 tasks): say how the bombs' jobs stand, for the next time.
        const jobs = await daemon.ctl("alice", ["job", "list", "--all"]);
        assert.fail(
          `alice's group holds ${await tasksIn(aliceGroup).catch(() => "no")} tasks, not 30; ` +
            `her jobs:\n${jobs.stdout}${jobs.stderr}`,
        );
      }

      // Bob's job starts while alice's bombs fill her cap, forks five processes and ends.
      const bobRun = daemon.ctl("bob", [
        "job",
        "start",
        "--rootfs=bb",
        "--output",
        "--",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do sleep 1 & done; wait; echo ran 5",
      ]);
      let highestAlice = 0;
      let highestAll = 0;
      let done = false;
      const settled = bobRun.finally(() => done = true);
      while (!done) {
        highestAlice = Math.max(highestAlice, await tasksIn(aliceGroup));
        highestAll = Math.max(highestAll, await tasksIn(parent));
        await Promise.race([settled, sleep(10)]);
      }
      const bob = await bobRun;
      assert.equal(bob.code, 0, bob.stderr);
      const [bobJob, ...output] = bob.stdout.split("\n");
      assert.equal(output.join("\n"), "ran 5\n");
      assert.equal(highestAlice, 30, "alice's bombs stay at her cap while bob's job runs");
      assert.ok(highestAll <= 60, `all jobs together reached ${highestAll} tasks`);
      const status = await daemon.ctl("bob", ["job", "status", bobJob]);
      assert.match(status.stdout, /^State: +exited 0$/m);
      // Bob's job cgroup goes with his job (his group stays a while, holding only a cgroup
      // made ahead for his next job); alice's bombs are still at her cap.
      const jobsOf = (group: string) =>
        jobCgroupsLeft(daemon.port).filter((dir) => dir.startsWith(`${group}/`));
      assert.ok(await waitFor(() => Promise.resolve(jobsOf(bobGroup).length === 0), 5_000));
      assert.equal(await tasksIn(bobGroup), 0);
      assert.equal(await tasksIn(aliceGroup), 30);

      for (const id of bombs) {
        const stopped = await daemon.ctl("alice", ["job", "stop", id, "--grace=0s"]);
        assert.equal(stopped.code, 0, stopped.stderr);
      }
      assert.ok(await waitFor(() => Promise.resolve(jobsOf(aliceGroup).length === 0), 5_000));
      assert.equal(await tasksIn(aliceGroup), 0);
      // ijrd's shutdown takes the lingering groups with it, without waiting out their linger.
      assert.equal(await daemon.stop(), 0);
      assert.equal(await exists(aliceGroup), false, `${aliceGroup} outlived ijrd`);
      assert.equal(await exists(bobGroup), false, `${bobGroup} outlived ijrd`);
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);
