/**
 * An attached ijrctl rides out a restart of ijrd: it reconnects with backoff and resumes the
 * output at the next byte it had not received (StreamOutput's offset), so stdout holds the
 * job's output exactly once; and when ijrd does not come back it gives up after
 * --reconnect-for with a message that says so.
 *
 * ijrd stops running jobs when it stops (running jobs surviving a restart is separate work),
 * so the restart comes after the job has written everything and ended, while ijrctl, held
 * back by a stdout nobody reads, is still megabytes behind: what it receives after the
 * restart comes from the job's output kept in ijrd's state folder.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  cleanupDaemon,
  logLinesWith,
  startDaemon,
  type TestDaemon,
  uploadBusybox,
} from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";
import { spawnCtl } from "../helpers/running_ctl.ts";
import { waitFor } from "../helpers/wait.ts";

const LINES = 3_000_000;

/** What `seq 1 LINES` prints: every number on its own line. */
function seqOutput(lines: number): Uint8Array {
  const encoder = new TextEncoder();
  const parts: string[] = [];
  for (let i = 1; i <= lines; i++) parts.push(`${i}\n`);
  return encoder.encode(parts.join(""));
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function onlyJob(daemon: TestDaemon) {
  const list = await daemon.ctl("alice", ["job", "list", "--all", "--json"]);
  assert.equal(list.code, 0, list.stderr);
  const jobs = JSON.parse(list.stdout);
  assert.equal(jobs.length, 1);
  return jobs[0];
}

rootTest(
  "e2e: ijrd restarted mid-stream: ijrctl reconnects and resumes, stdout byte-exact",
  async () => {
    let daemon = await startDaemon();
    try {
      await uploadBusybox(daemon);
      const expected = seqOutput(LINES); // 22.9 MB: far more than pipes and gRPC buffers hold
      const ctl = spawnCtl(daemon.configs.alice, [
        "job",
        "start",
        "--rootfs=bb",
        "--output",
        "--",
        "seq",
        "1",
        String(LINES),
      ], { holdStdout: true });
      // The job ends while ijrctl, whose stdout nobody reads, is still far behind.
      const ended = await waitFor(async () => {
        const list = await daemon.ctl("alice", ["job", "list", "--all", "--json"]);
        assert.equal(list.code, 0, list.stderr);
        const jobs = JSON.parse(list.stdout);
        return jobs.length === 1 && jobs[0].state === "JOB_STATE_EXITED";
      }, 60_000);
      assert.ok(ended, "the seq job ended");
      const { id } = await onlyJob(daemon);

      // Restart ijrd on the same port and state folder; its finished job and output survive.
      assert.equal(await daemon.stop(), 0);
      const firstLog = daemon.stderr();
      daemon = await startDaemon([], { dir: daemon.dir, port: daemon.port });
      ctl.readStdout();
      const exit = await ctl.exited;
      assert.equal(exit.code, 0, exit.stderr);

      const idLine = new TextEncoder().encode(`${id}\n`);
      assert.equal(exit.stdout.length, idLine.length + expected.length);
      assert.deepEqual(exit.stdout.subarray(0, idLine.length), idLine);
      assert.equal(sha256(exit.stdout.subarray(idLine.length)), sha256(expected));

      // It really resumed: from a byte past 0 and short of the end, once, logged by both sides.
      const resumed = exit.stderr.match(/resuming the output of job [0-9a-f]{16} at byte (\d+)\n/);
      assert.ok(resumed, exit.stderr);
      const offset = Number(resumed[1]);
      assert.ok(offset > 0 && offset < expected.length, `resumed at ${offset}`);
      assert.match(
        exit.stderr,
        new RegExp(
          `^ijrctl: lost the connection to ijrd at localhost:${daemon.port} \\(` +
            "(ijrd is shutting down|Call cancelled)\\); reconnecting for up to 1m\n" +
            "(ijrctl: reconnected to ijrd at " +
            `localhost:${daemon.port}\n)ijrctl: resuming the output of job ${id} at byte ${offset}\n$`,
        ),
      );
      // The stopping ijrd ended the first stream (UNAVAILABLE, or CANCELLED when its messages
      // still waited for ijrctl) after sending part of the output.
      assert.match(
        firstLog,
        /"method":"\/ijr.v1.JobService\/StreamOutput".*"outcome":"(UNAVAILABLE|CANCELLED)"/,
      );
      const resumedCall = await logLinesWith(daemon, "StreamOutput", 1);
      assert.equal(resumedCall.length, 1, daemon.stderr());
      assert.equal(JSON.parse(resumedCall[0]).offset, String(offset));
      assert.equal(JSON.parse(resumedCall[0]).outcome, "OK");
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);

rootTest(
  "e2e: ijrd gone for longer than --reconnect-for: ijrctl gives up, says so, exits 1",
  async () => {
    const daemon = await startDaemon();
    try {
      await uploadBusybox(daemon);
      const ctl = spawnCtl(daemon.configs.alice, [
        "job",
        "start",
        "--rootfs=bb",
        "--output",
        "--reconnect-for=1s",
        "--",
        "sh",
        "-c",
        "echo ready; sleep 600",
      ]);
      await ctl.waitForStdout("ready\n");
      const id = ctl.stdoutText().split("\n")[0];
      const began = Date.now();
      assert.equal(await daemon.stop(), 0);
      const exit = await ctl.exited;
      const tookMs = Date.now() - began;
      assert.equal(exit.code, 1, exit.stderr);
      assert.ok(tookMs >= 1_000 && tookMs < 10_000, `gave up after ${tookMs} ms`);
      const lines = exit.stderr.split("\n");
      assert.equal(
        lines[0],
        `ijrctl: lost the connection to ijrd at localhost:${daemon.port} (ijrd is shutting down); ` +
          "reconnecting for up to 1s",
      );
      assert.match(
        lines[1],
        new RegExp(
          `^ijrctl job start: could not reconnect to ijrd at localhost:${daemon.port} within 1s ` +
            "\\(--reconnect-for\\): .*ECONNREFUSED.*; " +
            `job ${id} may still be running \\(ijrctl job status ${id}\\)$`,
        ),
      );
      assert.equal(lines.length, 3);
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);
