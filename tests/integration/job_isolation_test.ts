/** What a job can see and do: its own root, PID 1/2, network, hostname, no privileges. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { busyboxRootfsDir } from "../helpers/busybox.ts";
import type { JobManager } from "../../lib/job/mod.ts";
import { outputText, startBusybox, withManager } from "../helpers/jobs.ts";
import { rootTest } from "../helpers/root.ts";

const run = async (manager: JobManager, argv: string[]) => {
  const job = await startBusybox(manager, argv);
  const final = await manager.wait(job.id);
  return { job: final, output: await outputText(manager, job.id) };
};

rootTest(
  "isolation: / is exactly the rootfs, the command is PID 2 under init, only lo, hostname = id",
  async () => {
    await withManager(async (manager) => {
      const rootfs = await busyboxRootfsDir();
      const expected = [...Deno.readDirSync(rootfs)].map((e) => e.name).sort();
      const { job, output } = await run(manager, [
        "sh",
        "-c",
        "ls -a / | grep -v '^\\.\\.\\?$'; echo --; echo $$; echo --; ps -o pid,comm; echo --; " +
        "ls /sys/class/net; cat /sys/class/net/lo/operstate; echo --; hostname",
      ]);
      assert.equal(job.state, "exited");
      assert.equal(job.exitCode, 0);
      const [root, pid, ps, net, host] = output.split("--\n").map((part) => part.trim());
      assert.deepEqual(root.split("\n").sort(), expected);
      assert.equal(pid, "2");
      const processes = ps.split("\n").slice(1).map((line) => line.trim().split(/\s+/));
      // 2 is the shell, then ps itself: no host process is visible, and neither is the init,
      // PID 1 (non-dumpable, hidden by the job's /proc).
      assert.equal(processes[0][0], "2");
      assert.equal(processes.length, 2);
      assert.equal(net, "lo\nunknown");
      assert.equal(host, job.id);
    });
  },
);

rootTest(
  "isolation: the probe sees no privileges: mount and mknod fail, no block devices",
  async () => {
    await withManager(async (manager) => {
      const { job, output } = await run(manager, ["/bin/probe", "isolation"]);
      assert.equal(job.exitCode, 0, output);
      assert.equal(
        output,
        `pid=2\nppid=1\nhostname=${job.id}\nmount=EPERM\nmknod=EPERM\nopen/dev/vda=ENOENT\nopen/dev/sda=ENOENT\n`,
      );
    });
  },
);

rootTest(
  "isolation: writes land in the job's layer, never in the rootfs; jobs do not see each other's",
  async () => {
    await withManager(async (manager) => {
      const rootfs = await busyboxRootfsDir();
      const before = [...Deno.readDirSync(join(rootfs, "etc"))].map((e) => e.name).sort();
      const writer = await startBusybox(manager, [
        "sh",
        "-c",
        "echo secret > /etc/mine; rm /etc/passwd; sleep 5",
      ]);
      // While the writer runs, a second job on the same rootfs sees the original tree.
      await new Promise((r) => setTimeout(r, 300));
      const { output } = await run(manager, [
        "sh",
        "-c",
        "cat /etc/mine 2>&1; cat /etc/passwd",
      ]);
      assert.equal(
        output,
        "cat: can't open '/etc/mine': No such file or directory\nroot:x:0:0:root:/root:/bin/sh\n",
      );
      await manager.stop(writer.id, { graceMs: 500 });
      assert.deepEqual(
        [...Deno.readDirSync(join(rootfs, "etc"))].map((e) => e.name).sort(),
        before,
      );
      assert.equal(
        Deno.readTextFileSync(join(rootfs, "etc", "passwd")),
        "root:x:0:0:root:/root:/bin/sh\n",
      );
    });
  },
);

rootTest("isolation: env and working directory reach the command", async () => {
  await withManager(async (manager) => {
    const job = await startBusybox(manager, ["sh", "-c", 'echo "$GREETING $(pwd)"'], {
      env: ["PATH=/bin", "GREETING=hello"],
      workdir: "/etc",
    });
    await manager.wait(job.id);
    assert.equal(await outputText(manager, job.id), "hello /etc\n");
  });
});

rootTest(
  "isolation: the job's init is its own small program, not a copy of the daemon",
  async () => {
    await withManager(async (manager) => {
      const job = await startBusybox(manager, ["sleep", "30"]);
      const read = (file: string) =>
        Deno.readTextFileSync(`/proc/${job.pid}/${file}`).replaceAll("\0", "|");
      // Seen from the host: ijr-init PROTOCOL MAX_OUTPUT TIMEOUT_MS GRACE_MS WORKDIR COMMAND...,
      // the job's environment, no trace of the daemon.
      assert.equal(read("cmdline"), "ijr-init|3|0|0|10000|/|sleep|30|");
      assert.equal(
        read("environ"),
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|HOME=/root|TERM=xterm|",
      );
      assert.equal(read("comm"), "ijr-init\n");
      const kib = Number(read("status").match(/RssAnon:\s+(\d+) kB/)![1]);
      assert.ok(kib < 1024, `the init holds ${kib} KiB of anonymous memory`);
      await manager.stop(job.id, { graceMs: 1000 });
    });
  },
);

rootTest(
  "isolation: the root is an overlay, nodev and nosuid, unsynced, with the rootfs's own mode",
  async () => {
    await withManager(async (manager) => {
      const rootfs = await busyboxRootfsDir();
      const rootMode = (Deno.statSync(rootfs).mode! & 0o7777).toString(8);
      const { job, output } = await run(manager, [
        "sh",
        "-c",
        "grep ' / / ' /proc/self/mountinfo; stat -c '%a %u %g' /",
      ]);
      assert.equal(job.exitCode, 0, output);
      const [mountLine, stat] = output.trim().split("\n");
      // mountinfo: ID PARENT DEV ROOT MOUNTPOINT OPTIONS - TYPE SOURCE SUPER-OPTIONS
      const [mine, theirs] = mountLine.split(" - ");
      assert.equal(mine.split(" ")[5], "rw,nosuid,nodev,relatime");
      const [type, , superOptions] = theirs.split(" ");
      assert.equal(type, "overlay");
      // fsync=volatile: unmounting the job's root must not sync the whole state disk.
      assert.ok(superOptions.split(",").includes("fsync=volatile"), superOptions);
      const info = Deno.statSync(rootfs);
      assert.equal(stat, `${rootMode} ${info.uid} ${info.gid}`);
    });
  },
);

rootTest(
  "scratch in memory: bounded by its size, counted nowhere on the state disk",
  async () => {
    await withManager(async (manager, { stateDir }) => {
      const { job, output } = await run(manager, [
        "sh",
        "-c",
        "for f in /big /tmp/big; do " +
        "dd if=/dev/zero of=$f bs=1024 count=1536 2>&1 | grep -o 'No space left on device'; " +
        "ls -l $f | awk '{print $5}'; done",
      ]);
      assert.equal(job.exitCode, 0, output);
      // 1 MiB of tmpfs: the write stops there, with the error a full disk gives; /tmp has
      // the same bound.
      assert.equal(output, "No space left on device\n1048576\n".repeat(2));
      assert.deepEqual(
        [...Deno.readDirSync(`${stateDir}/jobs/${job.id}`)].map((e) => e.name).sort(),
        ["end", "job.json", "output"],
      );
    }, { scratch: { on: "memory", sizeBytes: 1024 ** 2 } });
  },
);

rootTest(
  "scratch on disk: the job's writes are in its folder under the state folder while it runs",
  async () => {
    await withManager(async (manager, { stateDir }) => {
      const job = await startBusybox(manager, ["sh", "-c", "echo secret > /etc/mine; sleep 5"]);
      const upper = `${stateDir}/jobs/${job.id}/scratch/upper`;
      for (let i = 0; i < 100; i++) {
        try {
          if (Deno.readTextFileSync(`${upper}/etc/mine`) === "secret\n") break;
        } catch { /* not written yet */ }
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(Deno.readTextFileSync(`${upper}/etc/mine`), "secret\n");
      const rootfs = await busyboxRootfsDir();
      const root = Deno.statSync(rootfs);
      const info = Deno.statSync(upper);
      assert.deepEqual([info.mode! & 0o7777, info.uid, info.gid], [
        root.mode! & 0o7777,
        root.uid,
        root.gid,
      ]);
      await manager.stop(job.id, { graceMs: 200 });
      await manager.shutdown();
      assert.throws(
        () => Deno.statSync(`${stateDir}/jobs/${job.id}/scratch`),
        Deno.errors.NotFound,
      );
    }, { scratch: { on: "disk" } });
  },
);

rootTest(
  "isolation: a descriptor the daemon leaked reaches neither the init nor the command",
  async () => {
    // A descriptor of "/" without close-on-exec, as a careless parent would leave one.
    const libc = Deno.dlopen("libc.so.6", {
      open: { parameters: ["buffer", "i32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
    });
    const leaked = libc.symbols.open(new TextEncoder().encode("/\0"), 0o200000);
    assert.ok(leaked > 2);
    try {
      await withManager(async (manager, { stateDir }) => {
        const { output } = await run(manager, ["/bin/probe", "fds"]);
        assert.equal(
          output,
          "fds=0,1,2\nfd0=/dev/null\nproc1listed=no\n" +
            "proc1fd=EPERM\nproc1mem=EPERM\nproc1environ=EPERM\n",
        );
        // The init holds its 0, 1 and 2 on the job's /dev/null, the job's end file and
        // output, and its own signalfd and timerfd: nothing of the daemon's.
        const job = await startBusybox(manager, ["sleep", "30"], { maxOutputBytes: 1 << 20 });
        const held = [...Deno.readDirSync(`/proc/${job.pid}/fd`)]
          .map((e) => [Number(e.name), Deno.readLinkSync(`/proc/${job.pid}/fd/${e.name}`)] as const)
          .sort((a, b) => a[0] - b[0])
          .map(([fd, target]) => `${fd} ${target.replace(/:\[\d+\]$/, "")}`);
        assert.deepEqual(held, [
          "0 /dev/null",
          "1 /dev/null",
          "2 /dev/null",
          `3 ${stateDir}/jobs/${job.id}/end`,
          `5 ${stateDir}/jobs/${job.id}/output`,
          "6 anon_inode:[signalfd]",
          "7 anon_inode:[timerfd]",
        ]);
        await manager.stop(job.id, { graceMs: 1000 });
      });
    } finally {
      libc.symbols.close(leaked);
      libc.close();
    }
  },
);
