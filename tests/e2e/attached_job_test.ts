/**
 * An attached ijrctl (`job start --output`, `job output --stop-on-signal`) behaves like
 * `docker run` for whatever runs it (a terminal, a Slurm step, a CI runner): signals stop the
 * job and ijrctl exits with the job's status once it has ended; a second signal kills it at
 * once; --no-stop-on-signal leaves it running; --rm removes it once its output is delivered.
 * All against a real ijrd, with real signals to the real ijrctl process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cleanupDaemon, startDaemon, type TestDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";
import { spawnCtl } from "../helpers/running_ctl.ts";

const decoder = new TextDecoder();

async function statusOf(daemon: TestDaemon, id: string) {
  const result = await daemon.ctl("alice", ["job", "status", id, "--json"]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

/** Starts `job start --output ARGS -- sh -c SCRIPT` as alice; resolves once the job is ready. */
async function attachedJob(daemon: TestDaemon, script: string, flags: string[] = []) {
  const ctl = spawnCtl(daemon.configs.alice, [
    "job",
    "start",
    "--rootfs=bb",
    "--output",
    ...flags,
    "--",
    "sh",
    "-c",
    script,
  ]);
  await ctl.waitForStdout("ready\n");
  const id = ctl.stdoutText().split("\n")[0];
  assert.match(id, /^[0-9a-f]{16}$/);
  return { ctl, id };
}

rootTest(
  "e2e: SIGINT, SIGTERM and SIGHUP each stop an attached job; ijrctl exits with its status, 143",
  async () => {
    const daemon = await startDaemon();
    try {
      await uploadBusybox(daemon);
      for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
        const { ctl, id } = await attachedJob(daemon, "echo ready; sleep 600");
        ctl.kill(signal);
        const exit = await ctl.exited;
        assert.equal(exit.code, 143, `${signal}: ${exit.stderr}`);
        assert.equal(decoder.decode(exit.stdout), `${id}\nready\n`);
        assert.equal(
          exit.stderr,
          `ijrctl: ${signal}: stopping job ${id} (SIGTERM, then kill after ijrd's grace ` +
            "period); another signal kills it at once\n",
        );
        const status = await statusOf(daemon, id);
        assert.equal(status.state, "JOB_STATE_STOPPED");
        assert.equal(status.signal, 15);
      }
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);

rootTest(
  "e2e: a second signal kills an attached job that ignores SIGTERM, long before its grace",
  async () => {
    const daemon = await startDaemon();
    try {
      await uploadBusybox(daemon);
      // The shell and its sleeps ignore SIGTERM: only the kill after the grace period ends it.
      const { ctl, id } = await attachedJob(
        daemon,
        "trap '' TERM; echo ready; while :; do sleep 1; done",
        ["--grace=60s"],
      );
      const began = Date.now();
      ctl.kill("SIGTERM");
      await ctl.waitForStderr(`SIGTERM: stopping job ${id}`);
      // Still running after the SIGTERM: the job ignores it, and the grace period is 60 s.
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal((await statusOf(daemon, id)).state, "JOB_STATE_RUNNING");
      ctl.kill("SIGINT");
      const exit = await ctl.exited;
      assert.ok(Date.now() - began < 20_000, `killed at once, not after the grace period`);
      assert.equal(exit.code, 137, exit.stderr);
      assert.equal(decoder.decode(exit.stdout), `${id}\nready\n`);
      assert.equal(
        exit.stderr,
        `ijrctl: SIGTERM: stopping job ${id} (SIGTERM, then kill after 1m); another signal ` +
          `kills it at once\nijrctl: SIGINT: killing job ${id} now\n`,
      );
      const status = await statusOf(daemon, id);
      assert.equal(status.state, "JOB_STATE_STOPPED");
      assert.equal(status.signal, 9);
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);

rootTest(
  "e2e: a job that handles the stop's SIGTERM ends with its own status, and ijrctl with it",
  async () => {
    const daemon = await startDaemon();
    try {
      await uploadBusybox(daemon);
      const { ctl, id } = await attachedJob(
        daemon,
        "trap 'echo cleaning up; exit 7' TERM; echo ready; sleep 600 & wait",
      );
      ctl.kill("SIGTERM");
      const exit = await ctl.exited;
      assert.equal(exit.code, 7, exit.stderr);
      assert.equal(decoder.decode(exit.stdout), `${id}\nready\ncleaning up\n`);
      const status = await statusOf(daemon, id);
      assert.equal(status.state, "JOB_STATE_EXITED");
      assert.equal(status.exitCode, 7);
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);

rootTest(
  "e2e: --no-stop-on-signal leaves the job running and ends ijrctl with 128 + the signal",
  async () => {
    const daemon = await startDaemon();
    try {
      await uploadBusybox(daemon);
      for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
        const { ctl, id } = await attachedJob(daemon, "echo ready; sleep 600", [
          "--no-stop-on-signal",
        ]);
        ctl.kill(signal);
        const exit = await ctl.exited;
        assert.equal(exit.code, code, exit.stderr);
        assert.equal(decoder.decode(exit.stdout), `${id}\nready\n`);
        assert.equal(
          exit.stderr,
          `ijrctl: ${signal}: leaving job ${id} running (--no-stop-on-signal)\n`,
        );
        assert.equal((await statusOf(daemon, id)).state, "JOB_STATE_RUNNING");
        const stop = await daemon.ctl("alice", ["job", "stop", id, "--grace=0"]);
        assert.equal(stop.code, 0, stop.stderr);
      }
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);

rootTest(
  "e2e: job output --stop-on-signal attaches to a running job; plain job output leaves it alone",
  async () => {
    const daemon = await startDaemon();
    try {
      await uploadBusybox(daemon);
      const start = await daemon.ctl("alice", [
        "job",
        "start",
        "--rootfs=bb",
        "--",
        "sh",
        "-c",
        "echo ready; sleep 600",
      ]);
      assert.equal(start.code, 0, start.stderr);
      const id = start.stdout.trim();

      // A plain follower: the signal ends ijrctl as it always did, the job runs on.
      const follower = spawnCtl(daemon.configs.alice, ["job", "output", id]);
      await follower.waitForStdout("ready\n");
      follower.kill("SIGINT");
      const left = await follower.exited;
      assert.equal(left.code, 130);
      assert.equal(left.stderr, "");
      assert.equal((await statusOf(daemon, id)).state, "JOB_STATE_RUNNING");

      const attached = spawnCtl(daemon.configs.alice, [
        "job",
        "output",
        id,
        "--stop-on-signal",
        "--grace=5s",
      ]);
      await attached.waitForStdout("ready\n");
      attached.kill("SIGTERM");
      const exit = await attached.exited;
      assert.equal(exit.code, 143, exit.stderr);
      assert.equal(decoder.decode(exit.stdout), "ready\n");
      assert.equal(
        exit.stderr,
        `ijrctl: SIGTERM: stopping job ${id} (SIGTERM, then kill after 5s); another signal ` +
          "kills it at once\n",
      );
      assert.equal((await statusOf(daemon, id)).state, "JOB_STATE_STOPPED");
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);

rootTest(
  "e2e: --rm removes the job once it has ended and its output has been delivered",
  async () => {
    const daemon = await startDaemon();
    try {
      await uploadBusybox(daemon);
      const ended = spawnCtl(daemon.configs.alice, [
        "job",
        "start",
        "--rootfs=bb",
        "--output",
        "--rm",
        "--",
        "sh",
        "-c",
        "echo hi; exit 4",
      ]);
      const exit = await ended.exited;
      assert.equal(exit.code, 4, exit.stderr);
      const [id, output] = decoder.decode(exit.stdout).split("\n", 2);
      assert.equal(output, "hi");
      assert.equal(exit.stderr, "");
      const status = await daemon.ctl("alice", ["job", "status", id]);
      assert.equal(status.code, 1);
      assert.equal(status.stderr, `ijrctl job status: job ${id} not found\n`);
      await assert.rejects(Deno.stat(join(daemon.stateDir, "jobs", id)), Deno.errors.NotFound);

      // Stopped by a signal, it is removed as well, after its end.
      const { ctl, id: stoppedId } = await attachedJob(daemon, "echo ready; sleep 600", ["--rm"]);
      ctl.kill("SIGTERM");
      assert.equal((await ctl.exited).code, 143);
      assert.equal((await daemon.ctl("alice", ["job", "status", stoppedId])).code, 1);
      const list = await daemon.ctl("admin", ["job", "list", "--all", "--json"]);
      assert.deepEqual(JSON.parse(list.stdout), []);
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);

rootTest("e2e: attach flags that would change nothing are refused as usage", async () => {
  const daemon = await startDaemon();
  try {
    const cases: [string[], string][] = [
      [["job", "start", "--rootfs=bb", "--rm", "--", "true"], "job start: --rm needs --output"],
      [
        ["job", "start", "--rootfs=bb", "--grace=1s", "--", "true"],
        "job start: --grace needs --output",
      ],
      [
        ["job", "start", "--rootfs=bb", "--no-stop-on-signal", "--", "true"],
        "job start: --no-stop-on-signal needs --output",
      ],
      [
        ["job", "start", "--rootfs=bb", "--reconnect-for=5s", "--", "true"],
        "job start: --reconnect-for needs --output",
      ],
      [
        ["job", "start", "--rootfs=bb", "--output", "--grace=2h", "--", "true"],
        'job start: --grace: duration "2h" is too long (at most 1h)',
      ],
      [
        ["job", "output", "0123456789abcdef", "--grace=1s"],
        "job output: --grace needs --stop-on-signal",
      ],
    ];
    for (const [args, message] of cases) {
      const result = await daemon.ctl("alice", args);
      assert.deepEqual([result.code, result.stderr], [2, `ijrctl ${message}\n`], args.join(" "));
    }
  } finally {
    await cleanupDaemon(daemon);
  }
});
