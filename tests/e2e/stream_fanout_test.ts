/** Many clients streaming one job's output at once all receive identical bytes. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cleanupDaemon, startDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";
import { REPO } from "../helpers/cli.ts";
import { join } from "node:path";

rootTest("e2e: 20 clients streaming the same job's output get identical bytes", async () => {
  const daemon = await startDaemon();
  try {
    await uploadBusybox(daemon);
    // About 2 MB of binary output over a second or so, so readers join while it is written.
    const start = await daemon.ctl("alice", [
      "job",
      "start",
      "--rootfs=bb",
      "--",
      "sh",
      "-c",
      "for i in 1 2 3 4 5 6 7 8; do head -c 262144 /dev/urandom; sleep 0.15; done",
    ]);
    assert.equal(start.code, 0, start.stderr);
    const id = start.stdout.trim();
    const readers = Array.from({ length: 20 }, () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", join(REPO, "ctl.ts"), "job", "output", id],
        env: { IJR_CONFIG: daemon.configs.alice },
        stdout: "piped",
        stderr: "piped",
      }).output());
    const results = await Promise.all(readers);
    const digests = results.map((r) => {
      // Failed once in CI: one reader lost its connection mid-handshake, then found nothing
      // listening for a minute. ijrd's own words say why, if it went away.
      assert.equal(
        r.code,
        0,
        `${new TextDecoder().decode(r.stderr)}\nijrd's stderr, last 3000 characters:\n` +
          daemon.stderr().slice(-3000),
      );
      assert.equal(r.stdout.length, 8 * 262144);
      return createHash("sha256").update(r.stdout).digest("hex");
    });
    assert.equal(new Set(digests).size, 1, "every reader got the same bytes");
    const status = JSON.parse((await daemon.ctl("alice", ["job", "status", id, "--json"])).stdout);
    assert.equal(status.state, "JOB_STATE_EXITED");
  } finally {
    await cleanupDaemon(daemon);
  }
});
