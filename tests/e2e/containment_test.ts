/**
 * Containment, tried as an attacker would, against the real ijrd: nothing of the daemon
 * reaches a job (descriptors it inherited, its stdout and stderr, its init's), and a job
 * cannot forge what is recorded about it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cleanupDaemon, startDaemon, type TestDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";

/** Runs `argv` as alice with --output; returns the job ID, its output and ijrctl's code. */
async function runJob(daemon: TestDaemon, argv: string[]) {
  const run = await daemon.ctl("alice", ["job", "start", "--rootfs=bb", "--output", "--", ...argv]);
  const [id, ...rest] = run.stdout.split("\n");
  return { id, output: rest.join("\n"), code: run.code, stderr: run.stderr };
}

rootTest(
  "containment: a job of an ijrd that inherited a descriptor of / and a pipe sees only its own 0, 1, 2 and cannot reach the host",
  async () => {
    const daemon = await startDaemon([], undefined, { inheritRootAndPipe: true });
    try {
      // The daemon really holds them: 8 is the host's root, 9 the FIFO.
      const pid = daemon.process.pid;
      assert.equal(Deno.readLinkSync(`/proc/${pid}/fd/8`), "/");
      assert.equal(Deno.readLinkSync(`/proc/${pid}/fd/9`), join(daemon.dir, "inherited.fifo"));
      // ...and marked them close-on-exec at start-up.
      for (const fd of [8, 9]) {
        const flags = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${fd}`).match(/flags:\s+(\d+)/);
        assert.ok(Number.parseInt(flags![1], 8) & 0o2000000, `fd ${fd} is not close-on-exec`);
      }
      await uploadBusybox(daemon);

      const fds = await runJob(daemon, ["/bin/probe", "fds"]);
      assert.equal(fds.code, 0, fds.stderr);
      assert.equal(
        fds.output,
        "fds=0,1,2\nfd0=/dev/null\nproc1listed=no\n" +
          "proc1fd=EPERM\nproc1mem=EPERM\nproc1environ=EPERM\n",
      );

      // What `chroot /proc/self/fd/8` did: a path of the host's through any descriptor.
      const marker = join(daemon.dir, "escaped");
      const escape = await runJob(daemon, ["/bin/probe", "escape", marker.slice(1)]);
      assert.equal(escape.output, "escape=none\n");
      assert.throws(() => Deno.statSync(marker), Deno.errors.NotFound);
      const chroot = await runJob(daemon, ["chroot", "/proc/self/fd/8", "/bin/true"]);
      assert.notEqual(chroot.code, 0);
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);

rootTest(
  "containment: a job that writes everything it can to /proc/1/fd and exits 7 is recorded as exited 7, and the daemon's log is untouched",
  async () => {
    const daemon = await startDaemon();
    try {
      await uploadBusybox(daemon);
      const forged = await runJob(daemon, ["sh", "-c", "/bin/probe forge; exit 7"]);
      assert.equal(forged.output, "forged=0\n");
      assert.equal(forged.code, 7, forged.stderr);
      const status = await daemon.ctl("alice", ["job", "status", forged.id, "--json"]);
      assert.equal(status.code, 0, status.stderr);
      const job = JSON.parse(status.stdout);
      assert.equal(job.state, "JOB_STATE_EXITED");
      assert.equal(job.exitCode, 7);
      // The daemon's stderr (its request log) got nothing from the job, and the list of all
      // jobs still serializes for everyone who sees this one.
      assert.doesNotMatch(daemon.stderr(), /FORGED-LOG-LINE|garbage|exit 0/);
      const list = await daemon.ctl("admin", ["job", "list", "--all", "--json"]);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(
        JSON.parse(list.stdout).map((j: { id: string; exitCode: number }) => [j.id, j.exitCode]),
        [[forged.id, 7]],
      );
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);
