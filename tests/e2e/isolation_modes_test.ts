/**
 * ijrd's isolation settings as operators see them: by default every job has a user
 * namespace and the seccomp filter, and `job status` says so; --userns=off and --seccomp off
 * are shown the same way; a pool that overlaps the host's users is refused at start-up.
 */
import assert from "node:assert/strict";
import { probeUserNamespaces, UsernsPool } from "../../lib/job/mod.ts";
import { cleanupDaemon, startDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";

async function statusOf(flags: string[]): Promise<string> {
  const daemon = await startDaemon(flags);
  try {
    await uploadBusybox(daemon);
    const run = await daemon.ctl("alice", ["job", "start", "--rootfs=bb", "--output", "--", "id"]);
    assert.equal(run.code, 0, run.stderr);
    const [id, output] = run.stdout.split("\n");
    // Root inside either way, with no supplementary groups (none of ijrd's).
    assert.equal(output, "uid=0(root) gid=0(root)");
    const status = await daemon.ctl("alice", ["job", "status", id]);
    return status.stdout;
  } finally {
    await cleanupDaemon(daemon);
  }
}

rootTest("isolation: job status shows the job's user namespace and seccomp filter", async () => {
  const status = await statusOf(["--userns-pool=1970012160:131072"]);
  assert.match(status, /^User namespace: +host ids 1970012160-1970077695$/m);
  assert.match(status, /^Seccomp: +default$/m);
  const off = await statusOf(["--userns=off", "--seccomp=off"]);
  assert.match(off, /^User namespace: +none \(ijrd --userns=off: the job's root is the host's\)$/m);
  assert.match(off, /^Seccomp: +off$/m);
});

rootTest("isolation: a pool overlapping the host's users is refused at start-up", async () => {
  // uid 0's range: whatever /etc/passwd lists first inside it is named.
  await assert.rejects(startDaemon(["--userns-pool=1:65536"]), (error: Error) => {
    assert.match(error.message, /ijrd: --userns-pool 1:65536 includes uid \d+ of user \S+\n/);
    return true;
  });
});

rootTest("isolation: the kernel's refusal of an idmapped layer is the probe's error", () => {
  // procfs has no idmapped mounts: the probe fails where a job's start would.
  const pool = new UsernsPool(1_980_000_000 - (1_980_000_000 % 65536), 65536);
  const mountPoint = Deno.makeTempDirSync({ prefix: "ijr-jobs-" });
  try {
    assert.throws(() => probeUserNamespaces(pool, { mountPoint, lowerDir: "/proc/sys" }), {
      message: "cannot map the rootfs into the job's user namespace (mount_setattr /proc/sys): " +
        "invalid argument",
    });
  } finally {
    Deno.removeSync(mountPoint);
  }
});
