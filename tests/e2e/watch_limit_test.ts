/**
 * Each user's open WaitJob, RunJob and StreamOutput calls are bounded (ijrd
 * --max-watches-per-user), through the real ijrd: a user at the bound is refused a third
 * watch of each kind with RESOURCE_EXHAUSTED naming the bound and the flag (a RunJob starts no
 * job), logged as such; waiting for an ended job is no watch; another user has a bound of
 * their own; a watch that ends (a wait answered, a stream cancelled) frees its place.
 */
import assert from "node:assert/strict";
import { JobState } from "../../lib/gen/ijr/v1/job_pb.ts";
import { connect } from "../../lib/ctl/connect.ts";
import { cleanupDaemon, startDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";
import { assertRpcStatus, rejectsWithStatus } from "../helpers/job_api.ts";
import { RpcError } from "../../lib/rpc/transport/mod.ts";
import { settledWithin } from "../helpers/wait.ts";

const AT_THE_BOUND = "alice has 2 calls open that wait for or follow jobs (WaitJob, RunJob, " +
  "StreamOutput): at most 2 at once (--max-watches-per-user); end one first";

rootTest("e2e: a user's open waits and streams stop at --max-watches-per-user", async () => {
  const daemon = await startDaemon(["--max-watches-per-user=2"]);
  const alice = connect({ config: daemon.configs.alice });
  const bob = connect({ config: daemon.configs.bob });
  const following = new AbortController();
  try {
    await uploadBusybox(daemon);
    const sleeper = (await alice.jobs.startJob({ rootfs: "bb", argv: ["sleep", "60"] })).job!;
    const ended = (await alice.jobs.startJob({ rootfs: "bb", argv: ["true"] })).job!;
    assert.equal((await alice.jobs.waitJob({ jobId: ended.id })).job!.state, JobState.EXITED);

    // Two watches: a wait and a follower of the sleeper's output.
    const waiting = alice.jobs.waitJob({ jobId: sleeper.id });
    const follower = (async () => {
      const chunks: Uint8Array[] = [];
      for await (
        const { data } of alice.jobs.streamOutput({ jobId: sleeper.id }, {
          signal: following.signal,
        })
      ) {
        chunks.push(data);
      }
      return chunks;
    })().catch((error) => error);
    assert.equal(await settledWithin(waiting, 500), "pending");
    assert.equal(await settledWithin(follower, 10), "pending");

    // At the bound: each kind is refused, and a RunJob starts nothing.
    const jobsBefore = (await alice.jobs.listJobs({ includeFinished: true })).jobs.length;
    await rejectsWithStatus(
      alice.jobs.waitJob({ jobId: sleeper.id }),
      "RESOURCE_EXHAUSTED",
      AT_THE_BOUND,
    );
    await rejectsWithStatus(
      (async () => {
        for await (const _ of alice.jobs.streamOutput({ jobId: sleeper.id })) { /* none */ }
      })(),
      "RESOURCE_EXHAUSTED",
      AT_THE_BOUND,
    );
    await rejectsWithStatus(
      (async () => {
        for await (const _ of alice.jobs.runJob({ rootfs: "bb", argv: ["true"] })) { /* none */ }
      })(),
      "RESOURCE_EXHAUSTED",
      AT_THE_BOUND,
    );
    assert.equal((await alice.jobs.listJobs({ includeFinished: true })).jobs.length, jobsBefore);
    // Refusals of requests that are wrong anyway still say what is wrong.
    await rejectsWithStatus(
      alice.jobs.waitJob({ jobId: "nope" }),
      "INVALID_ARGUMENT",
      /job_id/,
    );
    // An ended job's wait waits for nothing: no watch, answered at the bound too.
    assert.equal((await alice.jobs.waitJob({ jobId: ended.id })).job!.state, JobState.EXITED);

    // Bob has a bound of his own.
    const bobs = (await bob.jobs.startJob({ rootfs: "bb", argv: ["sleep", "60"] })).job!;
    const bobWaiting = bob.jobs.waitJob({ jobId: bobs.id });
    assert.equal(await settledWithin(bobWaiting, 300), "pending");

    // A cancelled follower frees its place: alice may follow again, once ijrd has seen the
    // cancel (until then a new follower is refused like any past the bound, and logged so).
    following.abort();
    await follower;
    let freed = false;
    let refusedWhileCancelling = 0;
    for (let attempt = 0; attempt < 50 && !freed; attempt++) {
      const again = new AbortController();
      const opened = (async () => {
        for await (
          const _ of alice.jobs.streamOutput({ jobId: sleeper.id }, { signal: again.signal })
        ) { /* none */ }
      })().then(() => undefined, (error) => error);
      const early = await settledWithin(opened, 100);
      again.abort();
      const outcome = await opened;
      if (outcome instanceof RpcError && outcome.codeName === "RESOURCE_EXHAUSTED") {
        assertRpcStatus(outcome, "RESOURCE_EXHAUSTED", AT_THE_BOUND);
        refusedWhileCancelling++;
        continue;
      }
      // Open until this test cancelled it: the place was free.
      assertRpcStatus(outcome, "CANCELLED", /cancel/i);
      freed = early === "pending";
    }
    assert.ok(freed, "the cancelled follower's place was never freed");

    // An answered wait frees its place too: stopping the sleeper answers the first wait.
    await alice.jobs.stopJob({ jobId: sleeper.id, gracePeriod: { seconds: 5n } });
    assert.equal((await waiting).job!.state, JobState.STOPPED);
    await bob.jobs.stopJob({ jobId: bobs.id, gracePeriod: { seconds: 5n } });
    assert.equal((await bobWaiting).job!.state, JobState.STOPPED);

    // The refusals are logged as what the client received.
    const refused = daemon.stderr().split("\n").filter((line) =>
      line.includes("RESOURCE_EXHAUSTED")
    )
      .map((line) => JSON.parse(line)).map((l) => [l.method, l.identity, l.outcome]);
    const followerRefused = [
      "/ijr.v1.JobService/StreamOutput",
      "alice(user)",
      "RESOURCE_EXHAUSTED",
    ];
    assert.deepEqual(refused, [
      ["/ijr.v1.JobService/WaitJob", "alice(user)", "RESOURCE_EXHAUSTED"],
      followerRefused,
      ["/ijr.v1.JobService/RunJob", "alice(user)", "RESOURCE_EXHAUSTED"],
      ...Array.from({ length: refusedWhileCancelling }, () => followerRefused),
    ]);
  } finally {
    following.abort();
    alice.close();
    bob.close();
    await cleanupDaemon(daemon);
  }
});
