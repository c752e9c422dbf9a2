/**
 * Sharing a worker, through the real ijrd and ijrctl: a job's output stops at its limit and
 * every stream of it ends normally; job delete, for its owner only; admission refusals; and
 * retention when ijrd starts.
 */
import assert from "node:assert/strict";
import { cleanupDaemon, startDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";

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
      assert.equal(rest.join("\n"), "0123456789\n".repeat(90) + "0123456789");
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
