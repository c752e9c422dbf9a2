/**
 * Starting a job and waiting for its end in one call, through the real ijrd: the RunJob RPC
 * (the started job, then its exact final status; StartJob's refusals with nothing left behind;
 * the caller's limits; a cancelled or timed-out call leaves the job running; the request log
 * names the job) and `ijrctl job start --wait` (its output and exit codes, those of `job
 * start` and `job wait`; a shutdown of ijrd ends it naming the job that had started).
 */
import assert from "node:assert/strict";
import { JobState, type RunJobResponse } from "../../lib/gen/ijr/v1/job_pb.ts";
import { connect, type Connection } from "../../lib/ctl/connect.ts";
import { RpcError } from "../../lib/rpc/transport/mod.ts";
import { cleanupDaemon, logLinesWith, startDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";
import { assertRpcStatus, ending } from "../helpers/job_api.ts";
import { settledWithin } from "../helpers/wait.ts";

/** Every message of a RunJob call, and how it ended (undefined: OK). */
async function runJob(
  connection: Connection,
  request: Parameters<Connection["jobs"]["runJob"]>[0],
  options?: Parameters<Connection["jobs"]["runJob"]>[1],
): Promise<{ messages: RunJobResponse[]; error?: unknown }> {
  const messages: RunJobResponse[] = [];
  try {
    for await (const message of connection.jobs.runJob(request, options)) messages.push(message);
    return { messages };
  } catch (error) {
    return { messages, error };
  }
}

rootTest("e2e: RunJob starts a job and answers with its start, then its exact end", async () => {
  const daemon = await startDaemon(["--max-jobs-per-user=2"]);
  const alice = connect({ config: daemon.configs.alice });
  const bob = connect({ config: daemon.configs.bob });
  try {
    await uploadBusybox(daemon);

    // Two messages: the job as StartJob answers it, then as WaitJob and GetJob answer it.
    const argv = ["sh", "-c", "sleep 0.3; exit 3"];
    const run = await runJob(alice, { rootfs: "bb", argv, env: ["A=1"] });
    assert.equal(run.error, undefined);
    assert.equal(run.messages.length, 2);
    const [first, last] = run.messages;
    assert.equal(first.ended, undefined);
    assert.equal(last.started, undefined);
    const started = first.started!;
    assert.match(started.id, /^[0-9a-f]{16}$/);
    assert.equal(started.state, JobState.RUNNING);
    assert.ok(started.pid > 0, `pid ${started.pid}`);
    assert.deepEqual(
      [started.owner, started.rootfs, started.argv, started.env],
      ["alice", "bb", argv, ["A=1"]],
    );
    const ended = last.ended!;
    assert.deepEqual(ending(ended), {
      state: "EXITED",
      exitCode: 3,
      signal: 0,
      pid: 0,
      oomKilled: false,
      message: "",
      ended: true,
    });
    assert.deepEqual(ended, (await alice.jobs.getJob({ jobId: started.id })).job);
    assert.deepEqual(ended, (await alice.jobs.waitJob({ jobId: started.id })).job);
    // A job that ends at once (a reaped init before the wait is even asked for).
    const quick = await runJob(alice, { rootfs: "bb", argv: ["true"] });
    assert.deepEqual(quick.messages.map((m) => [m.started?.id, JobState[m.ended?.state ?? 0]]), [
      [quick.messages[0].started!.id, "UNSPECIFIED"],
      [undefined, "EXITED"],
    ]);

    // The call stays open while the job runs, and answers when it is stopped.
    const sleeper = alice.jobs.runJob({ rootfs: "bb", argv: ["sleep", "60"] })[
      Symbol.asyncIterator
    ]();
    const sleeping = (await sleeper.next()).value!.started!;
    const next = sleeper.next();
    assert.equal(await settledWithin(next, 500), "pending");
    const stopped = (await alice.jobs.stopJob({ jobId: sleeping.id, gracePeriod: { seconds: 5n } }))
      .job!;
    const afterStop = await next;
    assert.deepEqual(afterStop.value!.ended, stopped);
    assert.deepEqual(ending(stopped), {
      state: "STOPPED",
      exitCode: 0,
      signal: 15,
      pid: 0,
      oomKilled: false,
      message: "stopped by request",
      ended: true,
    });
    assert.equal((await sleeper.next()).done, true);

    // StartJob's refusals, before any message, leave no job behind.
    const jobsBefore = (await alice.jobs.listJobs({ includeFinished: true })).jobs.length;
    const missing = await runJob(alice, { rootfs: "nope", argv: ["true"] });
    assert.deepEqual(missing.messages, []);
    assertRpcStatus(missing.error, "NOT_FOUND", 'no rootfs named "nope"');
    const notFound = await runJob(alice, { rootfs: "bb", argv: ["/bin/nosuch"] });
    assert.deepEqual(notFound.messages, []);
    assertRpcStatus(
      notFound.error,
      "FAILED_PRECONDITION",
      "command not found in rootfs: /bin/nosuch: no such file or directory",
    );
    const empty = await runJob(alice, { rootfs: "bb", argv: [] });
    assertRpcStatus(
      empty.error,
      "INVALID_ARGUMENT",
      "argv must not be empty: argv[0] is the command",
    );
    assert.equal((await alice.jobs.listJobs({ includeFinished: true })).jobs.length, jobsBefore);

    // A call the client gives up on (its deadline, its cancel) ends; the job runs on.
    const timedOut = await runJob(alice, { rootfs: "bb", argv: ["sleep", "60"] }, {
      timeoutMs: 1_500,
    });
    assert.equal(timedOut.messages.length, 1);
    // The client's words; a timer may fire a millisecond short of the deadline (job_wait_test).
    assertRpcStatus(
      timedOut.error,
      "DEADLINE_EXCEEDED",
      /^Deadline exceeded after 1\.(49\d|5\d\d)s$/,
    );
    const outlived = timedOut.messages[0].started!.id;
    assert.equal((await alice.jobs.getJob({ jobId: outlived })).job!.state, JobState.RUNNING);

    // The caller's own limit applies: with two of alice's jobs running, a third is refused
    // as StartJob refuses it; bob's are his own.
    const aborter = new AbortController();
    const cancelled = alice.jobs.runJob({ rootfs: "bb", argv: ["sleep", "60"] }, {
      signal: aborter.signal,
    })[Symbol.asyncIterator]();
    const second = (await cancelled.next()).value!.started!.id;
    aborter.abort();
    await assert.rejects(
      cancelled.next(),
      (e) => assertRpcStatus(e, "CANCELLED", "Cancelled on client"),
    );
    assert.equal((await alice.jobs.getJob({ jobId: second })).job!.state, JobState.RUNNING);
    const third = await runJob(alice, { rootfs: "bb", argv: ["true"] });
    assert.deepEqual(third.messages, []);
    const refusal = await alice.jobs.startJob({ rootfs: "bb", argv: ["true"] }).catch((e) => e);
    assertRpcStatus(third.error, "RESOURCE_EXHAUSTED", (refusal as RpcError).message);
    assert.match((refusal as RpcError).message, /alice/);
    const bobs = await runJob(bob, { rootfs: "bb", argv: ["true"] });
    assert.equal(JobState[bobs.messages[1].ended!.state], "EXITED");
    assert.equal(bobs.messages[1].ended!.owner, "bob");

    // One request log line per call, naming the job it started, or what was refused.
    const lines = (await logLinesWith(daemon, "RunJob", 10)).map((line) => JSON.parse(line));
    const logged = lines.map((l) => [l.identity, l.job, l.rootfs, l.outcome, l.messages]);
    assert.deepEqual(logged, [
      ["alice(user)", started.id, "bb", "OK", 2],
      ["alice(user)", quick.messages[0].started!.id, "bb", "OK", 2],
      ["alice(user)", sleeping.id, "bb", "OK", 2],
      ["alice(user)", undefined, "nope", "NOT_FOUND", 0],
      ["alice(user)", undefined, "bb", "FAILED_PRECONDITION", 0],
      ["alice(user)", undefined, "bb", "INVALID_ARGUMENT", 0],
      ["alice(user)", outlived, "bb", "DEADLINE_EXCEEDED", 1],
      ["alice(user)", second, "bb", "CANCELLED", 1],
      ["alice(user)", undefined, "bb", "RESOURCE_EXHAUSTED", 0],
      ["bob(user)", bobs.messages[0].started!.id, "bb", "OK", 2],
    ]);
    for (const id of [outlived, second]) await alice.jobs.stopJob({ jobId: id, gracePeriod: {} });
  } finally {
    alice.close();
    bob.close();
    await cleanupDaemon(daemon);
  }
});

rootTest(
  "e2e: ijrctl job start --wait prints the ID, then the end, and exits with it",
  async () => {
    const daemon = await startDaemon();
    try {
      await uploadBusybox(daemon);
      const startAndWait = (command: string, ...flags: string[]) =>
        daemon.ctl("alice", [
          "job",
          "start",
          "--rootfs=bb",
          "--wait",
          ...flags,
          "--command",
          command,
        ]);
      const idOf = (stdout: string) => stdout.split("\n")[0];

      const exits = await startAndWait("sh -c 'sleep 0.2; exit 3'");
      const exitsId = idOf(exits.stdout);
      assert.deepEqual(exits, {
        code: 3,
        stdout: `${exitsId}\njob ${exitsId}: exited 3\n`,
        stderr: "",
      });
      assert.equal((await daemon.ctl("alice", ["job", "wait", exitsId])).code, 3);

      const succeeds = await startAndWait("true");
      const okId = idOf(succeeds.stdout);
      assert.deepEqual(succeeds, {
        code: 0,
        stdout: `${okId}\njob ${okId}: exited 0\n`,
        stderr: "",
      });

      const killed = await startAndWait("sh -c 'kill -9 $$'");
      const killedId = idOf(killed.stdout);
      assert.deepEqual(killed, {
        code: 137,
        stdout: `${killedId}\njob ${killedId}: killed by signal 9\n`,
        stderr: "",
      });

      // Stopped from elsewhere while it waits: 128 + SIGTERM.
      const held = startAndWait("sleep 60");
      let sleeper = "";
      for (let i = 0; i < 100 && sleeper === ""; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const list = await daemon.ctl("alice", ["job", "list", "--json"]);
        sleeper = JSON.parse(list.stdout)[0]?.id ?? "";
      }
      assert.notEqual(sleeper, "");
      assert.equal((await daemon.ctl("alice", ["job", "stop", sleeper, "--grace=5s"])).code, 0);
      assert.deepEqual(await held, {
        code: 143,
        stdout: `${sleeper}\njob ${sleeper}: stopped (signal 15)\n`,
        stderr: "",
      });

      // Refused by ijrd (1, nothing printed on stdout), refused as usage (2).
      assert.deepEqual(await startAndWait("/bin/nosuch"), {
        code: 1,
        stdout: "",
        stderr: "ijrctl job start: command not found in rootfs: /bin/nosuch: no such file or " +
          "directory\n",
      });
      assert.deepEqual(await startAndWait("true", "--output"), {
        code: 2,
        stdout: "",
        stderr: "ijrctl job start: --wait and --output do not go together: --output waits too\n",
      });

      // ijrd shutting down ends the wait at once, naming the job that had started.
      const running = startAndWait("sleep 60");
      assert.equal(await settledWithin(running, 1500), "pending");
      assert.equal(await daemon.stop(), 0);
      const { code, stdout, stderr } = await running;
      const runningId = idOf(stdout);
      assert.match(runningId, /^[0-9a-f]{16}$/);
      assert.deepEqual({ code, stdout, stderr }, {
        code: 1,
        stdout: `${runningId}\n`,
        stderr:
          `ijrctl job start: cannot reach ijrd at localhost:${daemon.port}: ijrd is shutting ` +
          `down; job ${runningId} had started: \`ijrctl job wait ${runningId}\` waits for it again\n`,
      });
      assert.match(
        daemon.stderr(),
        new RegExp(
          `"method":"/ijr\\.v1\\.JobService/RunJob","job":"${runningId}","rootfs":"bb",` +
            '"outcome":"UNAVAILABLE"',
        ),
      );
      assert.doesNotMatch(daemon.stderr(), /"outcome":"INTERNAL"/);
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);
