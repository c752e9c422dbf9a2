/**
 * Live restore through the real ijrd and ijrctl: ten jobs of every kind run while ijrd is
 * killed (SIGKILL) or stopped (SIGTERM) and started again with the same state; each shows
 * exactly how it ended, the writer's output has every line once, the jobs that still run
 * are served as before, and nothing is left behind. With --no-live-restore a SIGTERM stops
 * the jobs instead.
 */
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { JobService, StreamOutputRequestSchema } from "../../lib/gen/ijr/v1/job_pb.ts";
import { createClient } from "../../lib/rpc/client/mod.ts";
import {
  cleanupDaemon,
  jobCgroupsLeft,
  startDaemon,
  type TestDaemon,
  uploadBusybox,
} from "../helpers/daemon.ts";
import { reapEndedInits, setChildSubreaper } from "../helpers/orphans.ts";
import { testPki } from "../helpers/pki.ts";
import { RawClient, type RawResult } from "../helpers/raw_client.ts";
import { rootTest } from "../helpers/root.ts";
import { sleep, waitFor } from "../helpers/wait.ts";

/** Lines the writer job prints, one every few milliseconds: it runs across the restart. */
const WRITER_LINES = 1500;
const expectedWriterOutput = Array.from({ length: WRITER_LINES }, (_, i) => `${i}\n`).join("");

/** The ten jobs, by role. */
interface TenJobs {
  writer: string;
  exits7: string;
  oom: string;
  timesOut: string;
  ignoresTerm: string;
  sleepers: string[];
}

type Pki = Awaited<ReturnType<typeof testPki>>;

/** Alice's typed JobService client: starts in milliseconds, where ijrctl takes a few hundred. */
function aliceClient(daemon: TestDaemon, pki: Pki) {
  return createClient(
    JobService,
    `localhost:${daemon.port}`,
    { caPem: pki.ca.certPem, certPem: pki.alice.certPem, keyPem: pki.alice.keyPem },
  );
}

type AliceClient = ReturnType<typeof aliceClient>;

async function start(
  client: AliceClient,
  argv: string[],
  extra: { memoryBytes?: bigint; timeoutSeconds?: bigint } = {},
): Promise<{ id: string; pid: number }> {
  const { job } = await client.startJob({
    rootfs: "bb",
    argv,
    limits: extra.memoryBytes ? { memoryBytes: extra.memoryBytes } : undefined,
    timeout: extra.timeoutSeconds ? { seconds: extra.timeoutSeconds } : undefined,
  });
  return { id: job!.id, pid: job!.pid };
}

/**
 * The ten jobs, started together within a few hundred milliseconds: three of them end about
 * two seconds later, while ijrd is away.
 */
async function startTenJobs(client: AliceClient, pids: Map<string, number>): Promise<TenJobs> {
  const started = await Promise.all([
    start(client, [
      "sh",
      "-c",
      `i=0; while [ $i -lt ${WRITER_LINES} ]; do echo $i; i=$((i+1)); sleep 0.004; done`,
    ]),
    start(client, ["sh", "-c", "sleep 2; exit 7"]),
    start(client, ["sh", "-c", "sleep 2; x=0123456789; while true; do x=$x$x; done"], {
      memoryBytes: 32n << 20n,
    }),
    start(client, ["sleep", "600"], { timeoutSeconds: 2n }),
    start(client, ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]),
    ...Array.from({ length: 5 }, () => start(client, ["sleep", "600"])),
  ]);
  for (const { id, pid } of started) pids.set(id, pid);
  const [writer, exits7, oom, timesOut, ignoresTerm, ...sleepers] = started.map((job) => job.id);
  return { writer, exits7, oom, timesOut, ignoresTerm, sleepers };
}

// deno-lint-ignore no-explicit-any
async function status(daemon: TestDaemon, id: string): Promise<any> {
  const shown = await daemon.ctl("alice", ["job", "status", id, "--json"]);
  assert.equal(shown.code, 0, shown.stderr);
  return JSON.parse(shown.stdout);
}

/** A follower of the writer's output over a raw gRPC stream, as alice. */
function follow(daemon: TestDaemon, pki: Pki, id: string) {
  const client = new RawClient(`localhost:${daemon.port}`, pki, "alice");
  const result = client.serverStream(
    "/ijr.v1.JobService/StreamOutput",
    toBinary(StreamOutputRequestSchema, create(StreamOutputRequestSchema, { jobId: id })),
  );
  return { result, close: () => client.close() };
}

function outputOf(result: RawResult): string {
  // Each response is a StreamOutputResponse: field 1, bytes. Decoded by hand: one tag, one
  // length, the data.
  const decoder = new TextDecoder();
  let text = "";
  for (const message of result.responses) {
    let at = 1; // the tag (0x0a)
    let length = 0;
    for (let shift = 0;; shift += 7) {
      const byte = message[at++];
      length |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    text += decoder.decode(message.subarray(at, at + length), { stream: true });
  }
  return text;
}

/** Everything after the restart: each job's exact end, the writer's lines, stops, cleanup. */
async function checkAfterRestart(
  daemon: TestDaemon,
  jobs: TenJobs,
  before: Map<string, number>,
  restartedAt: number,
): Promise<void> {
  const exited = await status(daemon, jobs.exits7);
  assert.deepEqual([exited.state, exited.exitCode], ["JOB_STATE_EXITED", 7]);
  const oom = await status(daemon, jobs.oom);
  assert.deepEqual([oom.state, oom.signal, oom.oomKilled, oom.message], [
    "JOB_STATE_KILLED",
    9,
    true,
    "killed by the kernel's OOM killer (memory limit)",
  ]);
  const timedOut = await status(daemon, jobs.timesOut);
  assert.deepEqual([timedOut.state, timedOut.signal, timedOut.message], [
    "JOB_STATE_STOPPED",
    15,
    "timed out after 2000 ms",
  ]);
  assert.ok(Date.parse(timedOut.endedAt) <= restartedAt + 1000, timedOut.endedAt);
  for (const id of [...jobs.sleepers, jobs.ignoresTerm]) {
    const job = await status(daemon, id);
    assert.deepEqual([job.state, job.pid], ["JOB_STATE_RUNNING", before.get(id)]);
  }

  // The writer ran on while ijrd was away: every line, in order, none twice.
  const written = await daemon.ctl("bob", ["job", "output", jobs.writer]);
  assert.equal(written.code, 1); // not bob's job
  const output = await daemon.ctl("alice", ["job", "output", jobs.writer]);
  assert.equal(output.code, 0, output.stderr);
  assert.equal(output.stdout, expectedWriterOutput);
  assert.equal((await status(daemon, jobs.writer)).state, "JOB_STATE_EXITED");

  // A job ignoring SIGTERM is stopped after its grace, as any other.
  const stopAsked = Date.now();
  const stopped = await daemon.ctl("alice", ["job", "stop", jobs.ignoresTerm, "--grace=1s"]);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.ok(Date.now() - stopAsked >= 1000);
  const ignoring = await status(daemon, jobs.ignoresTerm);
  assert.deepEqual([ignoring.state, ignoring.signal, ignoring.message], [
    "JOB_STATE_STOPPED",
    9,
    "stopped by request",
  ]);
  for (const id of jobs.sleepers) {
    const done = await daemon.ctl("alice", ["job", "stop", id, "--grace=1s"]);
    assert.equal(done.code, 0, done.stderr);
    assert.equal((await status(daemon, id)).state, "JOB_STATE_STOPPED");
  }
  const listed = await daemon.ctl("admin", ["job", "list", "--json"]);
  assert.deepEqual(JSON.parse(listed.stdout), []);
  // No job cgroup is left under the job parent, and no init (reaped here: see orphans.ts).
  assert.ok(
    await waitFor(() => Promise.resolve(jobCgroupsLeft(daemon.port).length === 0), 5000),
    `left: ${jobCgroupsLeft(daemon.port)}`,
  );
  assert.ok(await waitFor(() => Promise.resolve(reapEndedInits() === 0), 5000));
  for (const id of Object.values(jobs).flat()) {
    assert.deepEqual(
      [...Deno.readDirSync(`${daemon.stateDir}/jobs/${id}`)].map((e) => e.name).sort(),
      ["end", "job.json", "output"],
    );
  }
}

for (const how of ["SIGKILL", "SIGTERM"] as const) {
  rootTest(
    `live restore: ten jobs run on while ijrd is stopped by ${how} and are adopted by the next ijrd`,
    async () => {
      setChildSubreaper(true);
      const pki = await testPki();
      let daemon = await startDaemon([], undefined, { liveRestore: true });
      try {
        await uploadBusybox(daemon);
        const client = aliceClient(daemon, pki);
        const before = new Map<string, number>();
        const jobs = await startTenJobs(client, before);
        client.close();
        const follower = follow(daemon, pki, jobs.writer);
        await sleep(200);

        if (how === "SIGKILL") {
          daemon.process.kill("SIGKILL");
          assert.equal((await daemon.process.status).signal, "SIGKILL");
        } else {
          assert.equal(await daemon.stop(), 0);
          assert.match(daemon.stderr(), /"msg":"stopped","leftRunning":10\}/);
        }
        // The follower hears that ijrd is gone, not that the job ended.
        const followed = await follower.result;
        follower.close();
        assert.equal(followed.code, "UNAVAILABLE", followed.details);
        if (how === "SIGTERM") assert.equal(followed.details, "ijrd is shutting down");
        assert.ok(expectedWriterOutput.startsWith(outputOf(followed)));
        // Three of the jobs end while ijrd is away.
        await sleep(3000);
        for (const id of jobs.sleepers) {
          assert.ok(Deno.statSync(`/proc/${before.get(id)}`).isDirectory, "sleepers run on");
        }

        daemon = await startDaemon([], { dir: daemon.dir, port: daemon.port }, {
          liveRestore: true,
        });
        const restartedAt = Date.now();
        assert.match(daemon.stderr(), /"msg":"ready".*"running":7[,}]/);
        // A new follower gets every byte from the first.
        const again = follow(daemon, pki, jobs.writer);
        await checkAfterRestart(daemon, jobs, before, restartedAt);
        const refollowed = await again.result;
        again.close();
        assert.equal(refollowed.code, "OK", refollowed.details);
        assert.equal(outputOf(refollowed), expectedWriterOutput);
        assert.equal(await daemon.stop(), 0);
        assert.match(daemon.stderr(), /"msg":"stopped","leftRunning":0\}/);
      } finally {
        // Whatever a failure left running is ended with the daemon, and its inits reaped.
        await cleanupDaemon(daemon);
        await waitFor(() => Promise.resolve(reapEndedInits() === 0), 5000);
        setChildSubreaper(false);
      }
    },
  );
}

rootTest(
  "live restore off: SIGTERM stops every one of the ten jobs, recorded as stopped: ijrd shut down",
  async () => {
    let daemon = await startDaemon(["--grace=1s"]);
    try {
      await uploadBusybox(daemon);
      const client = aliceClient(daemon, await testPki());
      const pids = new Map<string, number>();
      const jobs = await startTenJobs(client, pids);
      client.close();
      assert.equal(await daemon.stop(), 0);
      assert.match(daemon.stderr(), /"msg":"stopped"\}/);
      for (const pid of pids.values()) {
        assert.throws(() => Deno.statSync(`/proc/${pid}`), Deno.errors.NotFound);
      }
      daemon = await startDaemon([], { dir: daemon.dir, port: daemon.port });
      assert.match(daemon.stderr(), /"liveRestore":"off","running":0\}/);
      for (const id of pids.keys()) {
        const job = await status(daemon, id);
        // The shell that ignores SIGTERM is killed after the grace period; the rest end at it.
        assert.deepEqual([job.state, job.signal, job.message], [
          "JOB_STATE_STOPPED",
          id === jobs.ignoresTerm ? 9 : 15,
          "stopped: ijrd shut down",
        ], id);
      }
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);
