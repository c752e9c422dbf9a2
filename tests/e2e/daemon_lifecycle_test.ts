/** ijrd start-up errors, orderly shutdown and restart over the same state. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runEntry } from "../helpers/cli.ts";
import { cleanupDaemon, startDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";

rootTest(
  "ijrd: SIGTERM stops jobs, ends streams and exits 0; a restart keeps the records",
  async () => {
    const daemon = await startDaemon();
    try {
      await uploadBusybox(daemon);
      const start = await daemon.ctl("alice", [
        "job",
        "start",
        "--rootfs=bb",
        "--command=sleep 600",
      ]);
      const id = start.stdout.trim();
      // Not riding out the outage (ijrctl's default is a minute): this is about ijrd ending
      // the stream as it stops, which the first failure shows.
      const follower = daemon.ctl("alice", ["job", "output", "--reconnect-for=0s", id]);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await daemon.stop(), 0);
      const followed = await follower;
      assert.equal(followed.code, 1);
      assert.match(followed.stderr, /ijrd is shutting down|cannot reach ijrd/);
      const record = JSON.parse(
        Deno.readTextFileSync(join(daemon.stateDir, "jobs", id, "job.json")),
      );
      assert.equal(record.state, "stopped");
      assert.equal(record.message, "stopped: ijrd shut down");

      // The same state and rootfs folders under a new daemon: the job and the rootfs are there.
      const again = await startDaemon([], { dir: daemon.dir, port: daemon.port });
      try {
        const status = JSON.parse(
          (await again.ctl("alice", ["job", "status", id, "--json"])).stdout,
        );
        assert.equal(status.state, "JOB_STATE_STOPPED");
        const list = JSON.parse((await again.ctl("alice", ["rootfs", "list", "--json"])).stdout);
        assert.deepEqual(list.map((r: { name: string }) => r.name), ["bb"]);
      } finally {
        await again.stop();
      }
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);

rootTest("ijrd: a port in use is one clear line and exit code 2", async () => {
  const daemon = await startDaemon();
  try {
    const second = await runEntry("daemon.ts", [
      "--server=localhost",
      `--port=${daemon.port}`,
      "--listen=127.0.0.1",
      `--cert=${join(daemon.dir, "server.crt")}`,
      `--key=${join(daemon.dir, "server.key")}`,
      `--ca=${join(daemon.dir, "ca.crt")}`,
      `--rootfs=${join(daemon.dir, "rootfs2")}`,
      `--state=${join(daemon.dir, "state2")}`,
    ]);
    assert.equal(second.code, 2);
    assert.match(
      second.stderr,
      new RegExp(
        `ijrd: cannot listen on 127\\.0\\.0\\.1:${daemon.port}: the address is already in use\\n$`,
      ),
    );
  } finally {
    await cleanupDaemon(daemon);
  }
});
