/**
 * Long calls on a worker that stops answering without closing its connections (frozen here
 * with SIGSTOP: the kernel still acknowledges every segment, ijrd answers nothing): ijrctl's
 * connections ping ijrd while a call is open, so a wait or a RunJob ends UNAVAILABLE once a
 * ping goes unanswered, instead of hanging for as long as the worker is gone. Pings are shortened
 * here; a connection with the default (one a minute) is still waiting, and when ijrd answers
 * again that wait ends with the job, as before.
 */
import assert from "node:assert/strict";
import { JobState } from "../../lib/gen/ijr/v1/job_pb.ts";
import { connect, KEEPALIVE } from "../../lib/ctl/connect.ts";
import { RpcError } from "../../lib/rpc/transport/mod.ts";
import { cleanupDaemon, startDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";
import { settledWithin } from "../helpers/wait.ts";

rootTest("e2e: a wait on a worker that stops answering ends UNAVAILABLE after a ping", async () => {
  assert.deepEqual(KEEPALIVE, { timeMs: 60_000, timeoutMs: 20_000 });
  const daemon = await startDaemon();
  const patient = connect({ config: daemon.configs.alice });
  const watchful = connect({ config: daemon.configs.alice }, {
    keepalive: { timeMs: 500, timeoutMs: 1_000 },
  });
  try {
    await uploadBusybox(daemon);
    const { job } = await patient.jobs.startJob({ rootfs: "bb", argv: ["sleep", "60"] });
    const waiting = patient.jobs.waitJob({ jobId: job!.id });
    // Awaited below; should an assertion fail first, the cleanup's shutdown ends this wait,
    // and that must not surface as an uncaught rejection that cuts the cleanup short.
    waiting.catch(() => {});
    const watched = watchful.jobs.waitJob({ jobId: job!.id }).then(() => "answered", (e) => e);
    const run = (async () => {
      const messages = [];
      try {
        for await (const message of watchful.jobs.runJob({ rootfs: "bb", argv: ["sleep", "60"] })) {
          messages.push(message);
        }
        return { messages };
      } catch (error) {
        return { messages, error };
      }
    })();
    // Both calls are open and answered so far (RunJob's job has started).
    assert.equal(await settledWithin(watched, 1_500), "pending");
    const second = (await watchful.jobs.listJobs({})).jobs.map((j) => j.id)
      .filter((id) => id !== job!.id);
    assert.equal(second.length, 1);

    Deno.kill(daemon.process.pid, "SIGSTOP");
    let frozenFor = 0;
    try {
      const frozen = performance.now();
      // Bounded, so that a client that never notices fails here instead of hanging.
      const failure = await settledWithin(watched, 10_000);
      frozenFor = performance.now() - frozen;
      const ran = await settledWithin(run, 5_000);
      assert.notEqual(failure, "pending", "the wait is still open 10 s after the freeze");
      assert.notEqual(ran, "pending", "the RunJob is still open after the freeze");
      const { messages, error } = ran as Awaited<typeof run>;
      for (const ended of [failure, error]) {
        assert.ok(ended instanceof RpcError, String(ended));
        // The client's words for a call whose connection it closed (here: a ping unanswered).
        assert.deepEqual([ended.codeName, ended.message], ["UNAVAILABLE", "Connection dropped"]);
      }
      assert.deepEqual(messages.map((m) => m.started?.id), [second[0]]);
      // The other connection pings once a minute: its wait is still open.
      assert.equal(await settledWithin(waiting, 0), "pending");
    } finally {
      Deno.kill(daemon.process.pid, "SIGCONT");
    }
    // Pinged every 0.5 s with 1 s to answer: well within 5 s, however the timers fall.
    assert.ok(frozenFor < 5_000, `the wait ended ${frozenFor.toFixed(0)} ms after the freeze`);

    // ijrd answers again: the patient wait ends with the job, as if nothing had happened.
    for (const id of [job!.id, second[0]]) {
      await patient.jobs.stopJob({ jobId: id, gracePeriod: { seconds: 5n } });
    }
    const { job: ended } = await waiting;
    assert.equal(ended!.state, JobState.STOPPED);
  } finally {
    patient.close();
    watchful.close();
    await cleanupDaemon(daemon);
  }
});
