/**
 * Every job in a user namespace of its own, behind the default seccomp filter: seen from the
 * host its processes are an unprivileged range of ids no other running job has; inside, it
 * is root, and the rootfs looks as its archive said; it cannot make nested namespaces nor
 * reach the calls the filter denies; cgroups still hold it. And the --userns=off and
 * --seccomp off paths.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { UsernsPool } from "../../lib/job/mod.ts";
import { busyboxRootfsDir } from "../helpers/busybox.ts";
import { withTestController } from "../helpers/cgroup_support.ts";
import {
  FixtureRootfs,
  outputText,
  processesInNamespaceOf,
  startBusybox,
  withManager,
} from "../helpers/jobs.ts";
import { rootTest } from "../helpers/root.ts";
import { expectedUnderFilter } from "../helpers/seccomp_probe.ts";

/** A pool of its own for each test: 4 ranges from a start no other test uses. */
function pool(start: number): UsernsPool {
  return new UsernsPool(start, 4 * 65536);
}

/** The real, effective, saved and file-system uids of a process, from the host. */
function uidsOf(pid: number): number[] {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return status.match(/^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/m)!.slice(1).map(Number);
}

async function run(manager: Parameters<Parameters<typeof withManager>[0]>[0], argv: string[]) {
  const job = await startBusybox(manager, argv);
  const end = await manager.wait(job.id);
  return { job: end, output: await outputText(manager, job.id) };
}

rootTest(
  "userns: from the host every process of a job is in its own unprivileged range",
  async () => {
    const base = 1_900_000_000 - (1_900_000_000 % 65536);
    await withManager(async (manager) => {
      const script = "sleep 30 & sleep 30 & wait";
      const a = await startBusybox(manager, ["sh", "-c", script]);
      const b = await startBusybox(manager, ["sh", "-c", script]);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(a.isolation, {
        userNamespace: { hostUid: base, hostGid: base, size: 65536 },
        seccomp: true,
      });
      assert.equal(b.isolation?.userNamespace?.hostUid, base + 65536);
      for (const [job, start] of [[a, base], [b, base + 65536]] as const) {
        const pids = processesInNamespaceOf(job.pid!);
        assert.equal(pids.length, 4, "init, sh and two sleeps");
        for (const pid of pids) assert.deepEqual(uidsOf(pid), [start, start, start, start]);
      }
      await manager.stop(a.id, { graceMs: 500 });
      await manager.stop(b.id, { graceMs: 500 });
      // The ranges are free again: the next job gets the first.
      const c = await startBusybox(manager, ["true"]);
      assert.equal(c.isolation?.userNamespace?.hostUid, base);
      await manager.wait(c.id);
    }, { userns: pool(base) });
  },
);

rootTest(
  "userns: inside, the job is root and the rootfs has the archive's owners and modes",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ijr-jobs-" });
    const tree = join(dir, "tree");
    try {
      const copy = await new Deno.Command("cp", { args: ["-a", await busyboxRootfsDir(), tree] })
        .output();
      assert.ok(copy.success);
      Deno.mkdirSync(join(tree, "data"));
      Deno.writeTextFileSync(join(tree, "data", "alice"), "hers\n");
      Deno.chownSync(join(tree, "data", "alice"), 1000, 100);
      Deno.chmodSync(join(tree, "data", "alice"), 0o640);
      Deno.writeTextFileSync(join(tree, "data", "high"), "x\n");
      Deno.chownSync(join(tree, "data", "high"), 65533, 65533);
      Deno.copyFileSync(join(tree, "bin", "busybox"), join(tree, "bin", "suid"));
      Deno.chmodSync(join(tree, "bin", "suid"), 0o4755);
      const base = 1_910_000_000 - (1_910_000_000 % 65536);
      await withManager(async (manager) => {
        const { job, output } = await run(manager, [
          "sh",
          "-c",
          "id; stat -c '%u %g %a %n' / /bin/suid /data/alice /data/high; " +
          "echo x > /written; echo y > /tmp/written; echo z | cat > /tmp/piped; " +
          "stat -c '%u %g %n' /written /tmp/written /tmp/piped; cat /tmp/piped; " +
          "cat /proc/self/uid_map",
        ]);
        assert.equal(job.exitCode, 0, output);
        assert.equal(
          output,
          "uid=0(root) gid=0(root)\n" +
            "0 0 755 /\n0 0 4755 /bin/suid\n1000 100 640 /data/alice\n65533 65533 644 /data/high\n" +
            "0 0 /written\n0 0 /tmp/written\n0 0 /tmp/piped\nz\n" +
            `         0 ${base}      65536\n`,
        );
        // The stored tree keeps its archive's owners on disk: one upload serves every job.
        assert.equal(Deno.statSync(join(tree, "data", "alice")).uid, 1000);
        assert.equal(Deno.statSync(join(tree, "bin", "suid")).uid, 0);
      }, { userns: pool(base), rootfs: new FixtureRootfs({ busybox: tree }) });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

rootTest("userns: a job's writes on a disk scratch belong to its range on the host", async () => {
  const base = 1_920_000_000 - (1_920_000_000 % 65536);
  await withManager(async (manager, { stateDir }) => {
    const job = await startBusybox(manager, ["sh", "-c", "echo x > /written; sleep 30"]);
    const upper = `${stateDir}/jobs/${job.id}/scratch/upper/written`;
    for (let i = 0; i < 50 && !(await Deno.stat(upper).then(() => true, () => false)); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual([Deno.statSync(upper).uid, Deno.statSync(upper).gid], [base, base]);
    await manager.stop(job.id, { graceMs: 500 });
  }, { userns: pool(base), scratch: { on: "disk" } });
});

rootTest(
  "seccomp: each denied call is EPERM (ENOSYS for clone3 and newer calls); ordinary calls work",
  async () => {
    await withManager(async (manager) => {
      const { job, output } = await run(manager, ["/bin/probe", "syscalls"]);
      assert.equal(job.exitCode, 0, output);
      assert.deepEqual(output.trim().split("\n"), expectedUnderFilter());
    }, { userns: pool(1_930_000_000 - (1_930_000_000 % 65536)) });
  },
);

rootTest("userns: no nested user namespace, with or without the seccomp filter", async () => {
  for (const seccomp of [true, false]) {
    await withManager(async (manager) => {
      const { output } = await run(manager, [
        "sh",
        "-c",
        "unshare -U -r true 2>&1; echo status=$?",
      ]);
      // The filter says EPERM; without it the namespace's own limit (max_user_namespaces 0)
      // says ENOSPC.
      const reason = seccomp ? "Operation not permitted" : "No space left on device";
      assert.equal(output, `unshare: unshare(0x10000000): ${reason}\nstatus=1\n`);
    }, { userns: pool(1_940_000_000 - (1_940_000_000 % 65536)), seccomp });
  }
});

rootTest("--seccomp off: the calls the filter denies reach the kernel", async () => {
  await withManager(async (manager) => {
    const { output } = await run(manager, ["/bin/probe", "syscalls"]);
    const results = Object.fromEntries(output.trim().split("\n").map((line) => line.split("=")));
    // What the kernel itself answers, not the filter's EPERM or ENOSYS.
    assert.equal(results.clone3, "OK");
    assert.equal(results.personality_exec, "OK");
    assert.equal(results.keyctl, "OK");
    assert.equal(results.adjtimex, "OK");
    const job = manager.list({ includeFinished: true })[0];
    assert.equal(job.isolation?.seccomp, false);
  }, { seccomp: false });
});

rootTest("--userns=off: the job's root is the host's", async () => {
  await withManager(async (manager) => {
    const job = await startBusybox(manager, ["sleep", "30"]);
    assert.deepEqual(job.isolation, { seccomp: true });
    assert.deepEqual(uidsOf(job.pid!), [0, 0, 0, 0]);
    await manager.stop(job.id, { graceMs: 500 });
  });
});

rootTest("userns: cgroup limits, accounting, OOM and kill work as before", async () => {
  await withTestController(async (cgroups) => {
    await withManager(async (manager) => {
      const hog = await startBusybox(
        manager,
        ["sh", "-c", "x=0123456789; while true; do x=$x$x; done"],
        { limits: { memoryBytes: 32 * 1024 * 1024 } },
      );
      const oom = await manager.wait(hog.id);
      assert.deepEqual([oom.state, oom.signal, oom.oomKilled], ["killed", 9, true]);
      const bomb = await startBusybox(manager, ["/bin/probe", "forkbomb"], {
        limits: { pids: 40 },
      });
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(processesInNamespaceOf(bomb.pid!).length, 40);
      const cpu = Deno.readTextFileSync(`/proc/${bomb.pid}/cgroup`).match(/:cpu[,:][^\n]*:(.*)$/m);
      if (cpu) {
        const shares = Deno.readTextFileSync(`/sys/fs/cgroup/cpu${cpu[1]}/cpu.shares`).trim();
        assert.equal(shares, "1024");
      }
      const stopped = await manager.stop(bomb.id, { graceMs: 200 });
      assert.equal(stopped.state, "stopped");
      assert.ok(stopped.cpuNanos! > 0n);
    }, { userns: pool(1_950_000_000 - (1_950_000_000 % 65536)), cgroups });
  });
});
