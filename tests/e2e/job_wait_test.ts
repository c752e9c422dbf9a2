/**
 * Waiting for a job's end through the real ijrd: the WaitJob RPC (returns when the job ends,
 * at once when it has ended, the final status exact; another user's job is NOT_FOUND; a
 * cancelled wait leaves the job running) and `ijrctl job wait` (its output and exit codes, the
 * convention of `job start --output`; a shutdown of ijrd ends the wait with UNAVAILABLE).
 */
import assert from "node:assert/strict";
import { JobState } from "../../lib/gen/ijr/v1/job_pb.ts";
import { connect } from "../../lib/ctl/connect.ts";
import { cleanupDaemon, startDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";
import { ending, rejectsWithStatus } from "../helpers/job_api.ts";
import { settledWithin } from "../helpers/wait.ts";

rootTest("e2e: WaitJob returns when the job ends, with its exact final status", async () => {
  const daemon = await startDaemon();
  const alice = connect({ config: daemon.configs.alice });
  const bob = connect({ config: daemon.configs.bob });
  const admin = connect({ config: daemon.configs.admin });
  try {
    await uploadBusybox(daemon);

    // A running job: the wait is still open while the job runs, and ends with the job.
    const sleeper = (await alice.jobs.startJob({ rootfs: "bb", argv: ["sleep", "60"] })).job!;
    const waiting = alice.jobs.waitJob({ jobId: sleeper.id });
    assert.equal(await settledWithin(waiting, 500), "pending");
    // sleep dies of the SIGTERM, well within the grace period.
    const stopped = (await alice.jobs.stopJob({ jobId: sleeper.id, gracePeriod: { seconds: 5n } }))
      .job!;
    const waited = (await waiting).job!;
    assert.deepEqual(waited, stopped);
    assert.deepEqual(ending(waited), {
      state: "STOPPED",
      exitCode: 0,
      signal: 15,
      pid: 0,
      oomKilled: false,
      message: "stopped by request",
      ended: true,
    });

    // A job that exits by itself: the final status is the one GetJob reads from its record.
    const exits = (await alice.jobs.startJob({
      rootfs: "bb",
      argv: ["sh", "-c", "sleep 0.3; exit 3"],
    })).job!;
    const exited = (await alice.jobs.waitJob({ jobId: exits.id })).job!;
    assert.deepEqual(ending(exited), {
      state: "EXITED",
      exitCode: 3,
      signal: 0,
      pid: 0,
      oomKilled: false,
      message: "",
      ended: true,
    });
    assert.deepEqual(exited, (await alice.jobs.getJob({ jobId: exits.id })).job);
    assert.deepEqual(exited.argv, ["sh", "-c", "sleep 0.3; exit 3"]);
    assert.equal(exited.owner, "alice");

    // An ended job: the wait returns at once, the same status again.
    const begun = performance.now();
    assert.deepEqual((await alice.jobs.waitJob({ jobId: exits.id })).job, exited);
    assert.ok(performance.now() - begun < 1000, "an ended job's wait does not wait");

    // A job killed by a signal it sent itself.
    const killed = (await alice.jobs.startJob({ rootfs: "bb", argv: ["sh", "-c", "kill -9 $$"] }))
      .job!;
    assert.deepEqual(ending((await alice.jobs.waitJob({ jobId: killed.id })).job!), {
      state: "KILLED",
      exitCode: 0,
      signal: 9,
      pid: 0,
      oomKilled: false,
      message: "",
      ended: true,
    });

    // Another user's job answers like a missing one, running or ended; an admin may wait.
    const running = (await alice.jobs.startJob({ rootfs: "bb", argv: ["sleep", "60"] })).job!;
    for (const id of [running.id, exits.id, "0123456789abcdef"]) {
      await rejectsWithStatus(bob.jobs.waitJob({ jobId: id }), "NOT_FOUND", `job ${id} not found`);
    }
    assert.deepEqual((await admin.jobs.waitJob({ jobId: exits.id })).job, exited);
    await rejectsWithStatus(
      alice.jobs.waitJob({ jobId: "not-a-job" }),
      "INVALID_ARGUMENT",
      'job_id must be 16 lower-case hex digits, got "not-a-job"',
    );

    // A wait the client gives up on ends; the job runs on.
    await rejectsWithStatus(
      alice.jobs.waitJob({ jobId: running.id }, { timeoutMs: 300 }),
      "DEADLINE_EXCEEDED",
      // The client's own words for its deadline (lib/rpc/client/calls.ts); a timer may fire a
      // millisecond short of it ("after 0.299s").
      /^Deadline exceeded after 0\.(29\d|3\d\d)s$/,
    );
    const aborter = new AbortController();
    const cancelled = alice.jobs.waitJob({ jobId: running.id }, { signal: aborter.signal });
    aborter.abort();
    await rejectsWithStatus(cancelled, "CANCELLED", "Cancelled on client");
    assert.equal((await alice.jobs.getJob({ jobId: running.id })).job!.state, JobState.RUNNING);
  } finally {
    for (const connection of [alice, bob, admin]) connection.close();
    await cleanupDaemon(daemon);
  }
});

rootTest("e2e: ijrctl job wait exits with the job's status and prints how it ended", async () => {
  const daemon = await startDaemon();
  try {
    await uploadBusybox(daemon);
    const start = async (command: string) => {
      const started = await daemon.ctl("alice", [
        "job",
        "start",
        "--rootfs=bb",
        "--command",
        command,
      ]);
      assert.equal(started.code, 0, started.stderr);
      return started.stdout.trim();
    };

    const exits = await start("sh -c 'sleep 0.3; exit 3'");
    assert.deepEqual(await daemon.ctl("alice", ["job", "wait", exits]), {
      code: 3,
      stdout: `job ${exits}: exited 3\n`,
      stderr: "",
    });
    // Same again once ended, and with --job.
    assert.deepEqual(await daemon.ctl("alice", ["job", "wait", "--job", exits]), {
      code: 3,
      stdout: `job ${exits}: exited 3\n`,
      stderr: "",
    });
    const json = await daemon.ctl("alice", ["job", "wait", exits, "--json"]);
    assert.equal(json.code, 3, json.stderr);
    const status = JSON.parse(json.stdout);
    assert.deepEqual(
      [status.id, status.state, status.exitCode, status.signal, status.pid],
      [exits, "JOB_STATE_EXITED", 3, 0, 0],
    );

    const succeeds = await start("true");
    assert.deepEqual(await daemon.ctl("alice", ["job", "wait", succeeds]), {
      code: 0,
      stdout: `job ${succeeds}: exited 0\n`,
      stderr: "",
    });

    const killed = await start("sh -c 'kill -9 $$'");
    assert.deepEqual(await daemon.ctl("alice", ["job", "wait", killed]), {
      code: 137,
      stdout: `job ${killed}: killed by signal 9\n`,
      stderr: "",
    });

    // A running job: the command returns when the job is stopped, with 128+SIGTERM.
    const sleeper = await start("sleep 60");
    const waiting = daemon.ctl("alice", ["job", "wait", sleeper]);
    assert.equal(await settledWithin(waiting, 1000), "pending");
    const stop = await daemon.ctl("alice", ["job", "stop", sleeper, "--grace=5s"]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.deepEqual(await waiting, {
      code: 143,
      stdout: `job ${sleeper}: stopped (signal 15)\n`,
      stderr: "",
    });

    // Refusals: someone else's job, a malformed ID (both from ijrd, exit 1), no ID (usage, 2).
    assert.deepEqual(await daemon.ctl("bob", ["job", "wait", exits]), {
      code: 1,
      stdout: "",
      stderr: `ijrctl job wait: job ${exits} not found\n`,
    });
    assert.deepEqual(await daemon.ctl("alice", ["job", "wait", "nope"]), {
      code: 1,
      stdout: "",
      stderr: 'ijrctl job wait: job_id must be 16 lower-case hex digits, got "nope"\n',
    });
    assert.deepEqual(await daemon.ctl("alice", ["job", "wait"]), {
      code: 2,
      stdout: "",
      stderr: "ijrctl job wait: no job ID: use --job ID or give it as the argument\n",
    });

    // ijrd shutting down ends an open wait at once, with a status that says so. (Through
    // ijrctl, which exits on the status: a Deno process whose HTTP/2 session outlives the
    // server's GOAWAY may crash inside nghttp2, denoland/deno#36788.)
    const running = await start("sleep 60");
    const held = daemon.ctl("alice", ["job", "wait", running]);
    assert.equal(await settledWithin(held, 1000), "pending");
    assert.equal(await daemon.stop(), 0);
    assert.deepEqual(await held, {
      code: 1,
      stdout: "",
      stderr: `ijrctl job wait: cannot reach ijrd at localhost:${daemon.port}: ijrd is shutting ` +
        "down\n",
    });
    assert.match(
      daemon.stderr(),
      new RegExp(
        `"method":"/ijr\\.v1\\.JobService/WaitJob","job":"${running}","outcome":"UNAVAILABLE"`,
      ),
    );
    assert.doesNotMatch(daemon.stderr(), /"outcome":"INTERNAL"/);
  } finally {
    await cleanupDaemon(daemon);
  }
});
