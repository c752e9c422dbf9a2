/**
 * The proposal's whole flow through the real ijrd and ijrctl processes on loopback:
 * certificates, daemon, upload of a busybox rootfs, a job with limits and --output, list,
 * status, output from a second client while it runs, stop, delete refused while in use and
 * then allowed; and authorization between users.
 */
import assert from "node:assert/strict";
import { busyboxTarball } from "../helpers/busybox.ts";
import { cleanupDaemon, startDaemon, type TestDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function upload(daemon: TestDaemon, name: string) {
  const result = await uploadBusybox(daemon, name);
  assert.match(result.stdout, new RegExp(`^uploaded rootfs ${name}: \\d+ entries, `));
}

rootTest("e2e: the proposal flow through ijrctl and ijrd", async () => {
  const daemon = await startDaemon();
  try {
    await upload(daemon, "busybox");
    const list = await daemon.ctl("alice", ["rootfs", "list", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout).map((r: { name: string }) => r.name), ["busybox"]);

    // Start with limits and --output: the ID alone on the first line, then the output, and
    // the job's exit code as ijrctl's.
    const run = await daemon.ctl("alice", [
      "job",
      "start",
      "--rootfs=busybox",
      "--cpu=512",
      "--memory=64m",
      "--pids=50",
      "--output",
      `--command=sh -c "echo hello from \\$(hostname); exit 7"`,
    ]);
    const [id, ...rest] = run.stdout.split("\n");
    assert.match(id, /^[a-z0-9]{8,}$/);
    assert.equal(rest.join("\n"), `hello from ${id}\n`);
    assert.equal(run.code, 7, run.stderr);

    const status = await daemon.ctl("alice", ["job", "status", id, "--json"]);
    assert.equal(status.code, 0, status.stderr);
    const job = JSON.parse(status.stdout);
    assert.equal(job.state, "JOB_STATE_EXITED");
    assert.equal(job.exitCode, 7);
    assert.equal(job.owner, "alice");
    assert.equal(job.limits.cpuShares, "512");
    assert.equal(job.limits.memoryBytes, String(64 * 1024 * 1024));
    assert.equal(job.limits.pids, "50");

    // A running job: listed, streamed by a second client while it runs, stopped.
    const start = await daemon.ctl("alice", [
      "job",
      "start",
      "--rootfs=busybox",
      "--",
      "sh",
      "-c",
      "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
    ]);
    assert.equal(start.code, 0, start.stderr);
    const running = start.stdout.trim();
    const listed = await daemon.ctl("alice", ["job", "list", "--json"]);
    assert.deepEqual(JSON.parse(listed.stdout).map((j: { id: string }) => j.id), [running]);
    const table = await daemon.ctl("alice", ["job", "list", "--all"]);
    assert.match(table.stdout, /^ID +OWNER +ROOTFS +STATE +STARTED +COMMAND$/m);
    assert.match(table.stdout, new RegExp(`^${id} +alice +busybox +exited 7 `, "m"));
    assert.match(table.stdout, new RegExp(`^${running} +alice +busybox +running `, "m"));

    const follower = daemon.ctl("admin", ["job", "output", `--job=${running}`]);
    await waitFor("a few ticks", async () => {
      const out = await daemon.ctl("alice", ["job", "status", running, "--json"]);
      return JSON.parse(out.stdout).state === "JOB_STATE_RUNNING" ? true : undefined;
    });
    await new Promise((r) => setTimeout(r, 500));

    const refused = await daemon.ctl("admin", ["rootfs", "delete", "--name=busybox"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`busybox.*in use.*${running}`));

    const stop = await daemon.ctl("alice", ["job", "stop", running, "--grace=2s"]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, `job ${running}: stopped (signal 15)\n`);
    const followed = await follower;
    assert.equal(followed.code, 0, followed.stderr);
    const ticks = followed.stdout.split("\n").filter(Boolean);
    assert.ok(ticks.length >= 3, `streamed ${ticks.length} ticks`);
    ticks.forEach((line, i) => assert.equal(line, `tick ${i}`));

    const deleted = await daemon.ctl("admin", ["rootfs", "delete", "--name=busybox"]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, "deleted rootfs busybox\n");
    assert.equal((await daemon.ctl("admin", ["rootfs", "list", "--json"])).stdout.trim(), "[]");
  } finally {
    await cleanupDaemon(daemon);
  }
});

rootTest("e2e: users reach only their own jobs; only admins change root file systems", async () => {
  const daemon = await startDaemon();
  try {
    await upload(daemon, "bb");
    const start = await daemon.ctl("bob", ["job", "start", "--rootfs=bb", "--command=sleep 30"]);
    assert.equal(start.code, 0, start.stderr);
    const bobs = start.stdout.trim();
    for (const args of [["status", bobs], ["output", bobs], ["stop", bobs]]) {
      const result = await daemon.ctl("alice", ["job", ...args]);
      assert.equal(result.code, 1, `alice job ${args[0]}`);
      assert.equal(result.stderr, `ijrctl job ${args[0]}: job ${bobs} not found\n`);
    }
    const missing = await daemon.ctl("alice", ["job", "status", "0000000000000000"]);
    assert.equal(missing.stderr, "ijrctl job status: job 0000000000000000 not found\n");
    assert.equal(
      (await daemon.ctl("alice", ["job", "list", "--all", "--json"])).stdout.trim(),
      "[]",
    );
    const adminView = JSON.parse((await daemon.ctl("admin", ["job", "list", "--json"])).stdout);
    assert.deepEqual(adminView.map((j: { id: string }) => j.id), [bobs]);
    // rootfs list counts every job on a rootfs, and shows users the IDs of their own only.
    for (const [user, ids] of [["alice", []], ["bob", [bobs]], ["admin", [bobs]]] as const) {
      const listed = JSON.parse((await daemon.ctl(user, ["rootfs", "list", "--json"])).stdout);
      assert.deepEqual(
        listed.map((r: { runningJobCount: number; runningJobs: string[] }) => [
          r.runningJobCount,
          r.runningJobs,
        ]),
        [[1, ids]],
        user,
      );
    }
    const aliceTable = (await daemon.ctl("alice", ["rootfs", "list"])).stdout;
    assert.match(aliceTable, /^NAME +SIZE +ENTRIES +CREATED +RUNNING +JOBS\n/);
    assert.match(aliceTable, /\nbb +[\d.]+ [KMG]?i?B +\d+ +\S+Z +1 +-\n$/);
    assert.ok(!aliceTable.includes(bobs));

    const upload2 = await daemon.ctl("alice", [
      "rootfs",
      "upload",
      `--file=${await busyboxTarball()}`,
      "--name=mine",
    ]);
    assert.equal(upload2.code, 1);
    assert.equal(
      upload2.stderr,
      "ijrctl rootfs upload: rootfs upload needs the admin role; alice is a user\n",
    );
    const del = await daemon.ctl("alice", ["rootfs", "delete", "--name=bb"]);
    assert.equal(
      del.stderr,
      "ijrctl rootfs delete: rootfs delete needs the admin role; alice is a user\n",
    );

    const stopped = await daemon.ctl("admin", ["job", "stop", bobs, "--grace=1s"]);
    assert.equal(stopped.code, 0, stopped.stderr);
    // The request log names who did what.
    const log = daemon.stderr().split("\n").filter((l) =>
      l.startsWith("{") && l.includes('"method"')
    )
      .map((l) => JSON.parse(l));
    const denied = log.find((e) =>
      e.method === "/ijr.v1.RootfsService/UploadRootfs" && e.outcome !== "OK"
    );
    assert.equal(denied.identity, "alice(user)");
    assert.equal(denied.outcome, "PERMISSION_DENIED");
  } finally {
    await cleanupDaemon(daemon);
  }
});
