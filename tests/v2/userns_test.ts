/**
 * Jobs in user namespaces of their own, behind the default seccomp filter, through the real
 * engine (lib/job) on the cgroup v2 kernel: the v2 lane's copy of the v1 host's
 * tests/integration/job_userns_test.ts, with the same assertions, plus what only v2 shows (the
 * job's cgroup holding exactly its processes, read from cgroup.procs and pids.current).
 *
 * The root file systems and state folders live on the guest's ext4 data disk (guest.ts
 * dataDir): a job's rootfs is seen through an idmapped mount, which the guest's tmpfs root
 * cannot give (tmpfs has idmapped mounts from Linux 6.3, the guest runs 6.1). The first test
 * shows both sides of that, with the check ijrd runs at start-up.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  type CgroupController,
  createCgroupController,
  userGroupName,
} from "../../lib/cgroup/mod.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import {
  JobManager,
  type JobScratch,
  type JobStatus,
  probeUserNamespaces,
  UsernsPool,
} from "../../lib/job/mod.ts";
import type { RootfsProvider } from "../../lib/rootfs/mod.ts";
import { busyboxRootfsDir } from "../helpers/busybox.ts";
import { outputText, processesInNamespaceOf } from "../helpers/jobs.ts";
import { expectedUnderFilter } from "../helpers/seccomp_probe.ts";
import { CGROUP_ROOT, dataDir, mountTypeAt, procsOf, readText, v2Test, waitFor } from "./guest.ts";

const MiB = 1024 * 1024;
/** A job parent of this file's own, beside engine_test.ts's `ijr`. */
const PARENT = `${CGROUP_ROOT}/ijr-test.slice/runner/userns`;
const OWNER = "v2-userns";
/** The owner's group: every job's cgroup is `<parent>/<group>/<id>`. */
const GROUP = `${PARENT}/${userGroupName(OWNER)}`;

/** A pool of 4 ranges from `start` rounded down to a range's size. */
function pool(start: number): UsernsPool {
  return new UsernsPool(start - (start % 65536), 4 * 65536);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

let treeMade: Promise<string> | undefined;

/**
 * A copy of the busybox tree on the data disk, as an upload leaves one in the store: the
 * archive's owners and modes on disk, plus files of other owners and a setuid program. Made
 * once for every test here (jobs never write to it: their writes go to their overlay's upper
 * layer, which a test checks); it stays on the data disk, which run_v2.sh throws away.
 */
function sharedTree(): Promise<string> {
  treeMade ??= makeTree();
  return treeMade;
}

async function makeTree(): Promise<string> {
  const tree = `${dataDir()}/rootfs/busybox-${Deno.pid}`;
  const copy = await new Deno.Command("cp", { args: ["-a", await busyboxRootfsDir(), tree] })
    .output();
  ok(copy.success, new TextDecoder().decode(copy.stderr));
  await Deno.mkdir(`${tree}/data`);
  await Deno.writeTextFile(`${tree}/data/alice`, "hers\n");
  await Deno.chown(`${tree}/data/alice`, 1000, 100);
  await Deno.chmod(`${tree}/data/alice`, 0o640);
  await Deno.writeTextFile(`${tree}/data/high`, "x\n");
  await Deno.chown(`${tree}/data/high`, 65533, 65533);
  await Deno.copyFile(`${tree}/bin/busybox`, `${tree}/bin/suid`);
  await Deno.chmod(`${tree}/bin/suid`, 0o4755);
  return tree;
}

interface Jobs {
  readonly manager: JobManager;
  readonly stateDir: string;
  readonly tree: string;
}

/**
 * Runs `fn` with a manager whose rootfs "busybox" is the {@link sharedTree} on the data disk,
 * whose state is on the data disk too, and whose jobs' cgroups go below {@link PARENT}.
 * Afterwards the manager is shut down, the state and the job parent are removed, and nothing
 * of the jobs' cgroups may be left.
 */
async function withJobs(
  fn: (jobs: Jobs) => Promise<void>,
  options: { userns?: UsernsPool; seccomp?: boolean; scratch?: JobScratch },
): Promise<void> {
  const tree = await sharedTree();
  const stateDir = await Deno.makeTempDir({ dir: `${dataDir()}/state`, prefix: "userns-" });
  const rootfs: RootfsProvider = {
    acquire(name: string) {
      if (name !== "busybox") throw new IjrError("NOT_FOUND", `rootfs ${name} not found`);
      return { name, path: tree, release() {} };
    },
  };
  let cgroups: CgroupController | undefined;
  try {
    cgroups = await createCgroupController({ parent: "userns" });
    const manager = await JobManager.open({ stateDir, rootfs, cgroups, ...options });
    try {
      await fn({ manager, stateDir, tree });
    } finally {
      await manager.shutdown({ graceMs: 0 });
    }
    // Every job's cgroup went with its end, and its group with the owner's last job.
    strictEqual(await exists(GROUP), false, `${GROUP} is left behind`);
  } finally {
    await cgroups?.removeStale(new Set());
    await cgroups?.removeEmptyParents();
    await Deno.remove(stateDir, { recursive: true });
  }
  strictEqual(await exists(PARENT), false, `${PARENT} is left behind`);
}

function start(
  manager: JobManager,
  argv: readonly string[],
  limits?: { memoryBytes?: number; pids?: number },
): Promise<JobStatus> {
  return manager.start({ owner: OWNER, rootfs: "busybox", argv: [...argv], limits });
}

async function run(manager: JobManager, argv: readonly string[]) {
  const job = await start(manager, argv);
  const end = await manager.wait(job.id);
  return { job: end, output: await outputText(manager, job.id) };
}

/** One line of a /proc status file's ids ("Uid:" or "Gid:"): real, effective, saved, fs. */
async function idsOf(pid: number, field: "Uid" | "Gid"): Promise<number[]> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return new RegExp(`^${field}:\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)$`, "m").exec(status)!
    .slice(1).map(Number);
}

/** A uid_map or gid_map line as the kernel prints it ("%10u %10u %10u\n"). */
function mapLine(inside: number, outside: number, count: number): string {
  return [inside, outside, count].map((n) => String(n).padStart(10)).join(" ") + "\n";
}

const sorted = (numbers: number[]) => [...numbers].sort((a, b) => a - b);

v2Test(
  "userns: the data disk is ext4 and maps a job's rootfs; the guest's tmpfs root cannot",
  async () => {
    strictEqual(await mountTypeAt(dataDir()), "ext4");
    strictEqual(await mountTypeAt("/"), "tmpfs");
    // ijrd's start-up check (lib/daemon) mounts a job's root the way every start does.
    const mountPoint = await Deno.makeTempDir({ dir: `${dataDir()}/state`, prefix: "probe-" });
    const tree = await sharedTree();
    try {
      const pool = new UsernsPool(1_890_000_000 - (1_890_000_000 % 65536), 65536);
      probeUserNamespaces(pool, { mountPoint, lowerDir: tree });
      const onTmpfs = await busyboxRootfsDir();
      throws(() => probeUserNamespaces(pool, { mountPoint, lowerDir: onTmpfs }), {
        message: "cannot map the rootfs into the job's user namespace " +
          `(mount_setattr ${onTmpfs}): invalid argument`,
      });
    } finally {
      await Deno.remove(mountPoint);
    }
  },
);

v2Test(
  "userns: from the host every process of a job is in its own range, and in its cgroup",
  async () => {
    const base = 1_900_000_000 - (1_900_000_000 % 65536);
    await withJobs(async ({ manager }) => {
      const script = "sleep 30 & sleep 30 & wait";
      const a = await start(manager, ["sh", "-c", script]);
      const b = await start(manager, ["sh", "-c", script]);
      deepStrictEqual(a.isolation, {
        userNamespace: { hostUid: base, hostGid: base, size: 65536 },
        seccomp: true,
      });
      strictEqual(b.isolation?.userNamespace?.hostUid, base + 65536);
      for (const [job, first] of [[a, base], [b, base + 65536]] as const) {
        const dir = `${GROUP}/${job.id}`;
        ok(
          await waitFor(() => processesInNamespaceOf(job.pid!).length === 4, 10_000),
          "init, sh and two sleeps",
        );
        const pids = processesInNamespaceOf(job.pid!);
        // The maps of the job's init, read from the host: its 0..65535 are the range.
        strictEqual(await Deno.readTextFile(`/proc/${job.pid}/uid_map`), mapLine(0, first, 65536));
        strictEqual(await Deno.readTextFile(`/proc/${job.pid}/gid_map`), mapLine(0, first, 65536));
        for (const pid of pids) {
          deepStrictEqual(await idsOf(pid, "Uid"), [first, first, first, first]);
          deepStrictEqual(await idsOf(pid, "Gid"), [first, first, first, first]);
        }
        // CLONE_INTO_CGROUP with a user namespace: the job's cgroup holds all of it, no more.
        deepStrictEqual(sorted(await procsOf(dir)), sorted(pids));
        strictEqual(await readText(`${dir}/pids.current`), "4");
      }
      strictEqual((await manager.stop(a.id, { graceMs: 500 })).state, "stopped");
      strictEqual((await manager.stop(b.id, { graceMs: 500 })).state, "stopped");
      // The jobs' cgroups go just after their ends are reported; settled() waits for that.
      await manager.settled();
      strictEqual(await exists(`${GROUP}/${a.id}`), false);
      strictEqual(await exists(`${GROUP}/${b.id}`), false);
      // The ranges are free again: the next job gets the first.
      const c = await start(manager, ["true"]);
      strictEqual(c.isolation?.userNamespace?.hostUid, base);
      strictEqual((await manager.wait(c.id)).exitCode, 0);
    }, { userns: pool(base) });
  },
);

v2Test(
  "userns: inside, the job is root and the rootfs has the archive's owners and modes",
  async () => {
    const base = 1_910_000_000 - (1_910_000_000 % 65536);
    await withJobs(async ({ manager, tree }) => {
      const { job, output } = await run(manager, [
        "sh",
        "-c",
        "id; stat -c '%u %g %a %n' / /bin/suid /data/alice /data/high; " +
        "echo x > /written; echo y > /tmp/written; echo z | cat > /tmp/piped; " +
        "stat -c '%u %g %n' /written /tmp/written /tmp/piped; cat /tmp/piped; " +
        "cat /proc/self/uid_map; cat /proc/self/cgroup",
      ]);
      strictEqual(job.exitCode, 0, output);
      strictEqual(
        output,
        "uid=0(root) gid=0(root)\n" +
          "0 0 755 /\n0 0 4755 /bin/suid\n1000 100 640 /data/alice\n65533 65533 644 /data/high\n" +
          "0 0 /written\n0 0 /tmp/written\n0 0 /tmp/piped\nz\n" +
          mapLine(0, base, 65536) +
          // Its cgroup namespace (made with the job, before the user namespace is entered)
          // is rooted at the job's cgroup: pure v2, one line.
          "0::/\n",
      );
      // The stored tree keeps its archive's owners on disk: one upload serves every job.
      strictEqual((await Deno.stat(`${tree}/data/alice`)).uid, 1000);
      strictEqual((await Deno.stat(`${tree}/bin/suid`)).uid, 0);
      strictEqual(await exists(`${tree}/written`), false);
    }, { userns: pool(base) });
  },
);

v2Test("userns: a job's writes on a disk scratch belong to its range on the host", async () => {
  const base = 1_920_000_000 - (1_920_000_000 % 65536);
  await withJobs(async ({ manager, stateDir }) => {
    const job = await start(manager, ["sh", "-c", "echo x > /written; sleep 30"]);
    const upper = `${stateDir}/jobs/${job.id}/scratch/upper/written`;
    ok(await waitFor(() => exists(upper), 10_000), `${upper} was not written`);
    const info = await Deno.stat(upper);
    deepStrictEqual([info.uid, info.gid], [base, base]);
    strictEqual((await manager.stop(job.id, { graceMs: 500 })).state, "stopped");
  }, { userns: pool(base), scratch: { on: "disk" } });
});

v2Test(
  "seccomp: each denied call is EPERM (ENOSYS for clone3 and newer calls); ordinary calls work",
  async () => {
    await withJobs(async ({ manager }) => {
      const { job, output } = await run(manager, ["/bin/probe", "syscalls"]);
      strictEqual(job.exitCode, 0, output);
      deepStrictEqual(output.trim().split("\n"), expectedUnderFilter());
    }, { userns: pool(1_930_000_000) });
  },
);

v2Test("userns: no nested user namespace, with or without the seccomp filter", async () => {
  for (const seccomp of [true, false]) {
    await withJobs(async ({ manager }) => {
      const { output } = await run(manager, [
        "sh",
        "-c",
        "unshare -U -r true 2>&1; echo status=$?",
      ]);
      // The filter says EPERM; without it the namespace's own limit (max_user_namespaces 0)
      // says ENOSPC.
      const reason = seccomp ? "Operation not permitted" : "No space left on device";
      strictEqual(output, `unshare: unshare(0x10000000): ${reason}\nstatus=1\n`);
    }, { userns: pool(1_940_000_000), seccomp });
  }
});

v2Test("--seccomp off: the calls the filter denies reach the kernel", async () => {
  const base = 1_950_000_000 - (1_950_000_000 % 65536);
  await withJobs(async ({ manager }) => {
    const { job, output } = await run(manager, ["/bin/probe", "syscalls"]);
    const results = Object.fromEntries(output.trim().split("\n").map((line) => line.split("=")));
    // What the kernel itself answers, not the filter's EPERM or ENOSYS.
    strictEqual(results.clone3, "OK");
    strictEqual(results.personality_exec, "OK");
    strictEqual(results.keyctl, "OK");
    strictEqual(results.adjtimex, "OK");
    deepStrictEqual(job.isolation, {
      userNamespace: { hostUid: base, hostGid: base, size: 65536 },
      seccomp: false,
    });
  }, { userns: pool(base), seccomp: false });
});

v2Test("userns: cgroup limits, accounting, OOM and kill work as before", async () => {
  const base = 1_960_000_000 - (1_960_000_000 % 65536);
  await withJobs(async ({ manager }) => {
    const hog = await start(manager, ["sh", "-c", "x=0123456789; while true; do x=$x$x; done"], {
      memoryBytes: 32 * MiB,
    });
    const oom = await manager.wait(hog.id);
    deepStrictEqual([oom.state, oom.signal, oom.oomKilled], ["killed", 9, true]);
    // The jobs' cgroups go just after their ends are reported; settled() waits for that.
    await manager.settled();
    strictEqual(await exists(`${GROUP}/${hog.id}`), false);

    const bomb = await start(manager, ["/bin/probe", "forkbomb"], { pids: 40 });
    const dir = `${GROUP}/${bomb.id}`;
    strictEqual(await readText(`${dir}/pids.max`), "40");
    strictEqual(await readText(`${dir}/cpu.weight`), "100");
    ok(
      await waitFor(async () => (await readText(`${dir}/pids.current`)) === "40", 10_000),
      `pids.current stayed at ${await readText(`${dir}/pids.current`)}`,
    );
    const pids = processesInNamespaceOf(bomb.pid!);
    strictEqual(pids.length, 40);
    deepStrictEqual(sorted(await procsOf(dir)), sorted(pids));
    for (const pid of pids) deepStrictEqual(await idsOf(pid, "Uid"), [base, base, base, base]);
    const refused = Number(/^max (\d+)$/m.exec(await readText(`${dir}/pids.events`))![1]);
    ok(refused > 0, `pids.events max ${refused}: the bomb's forks past 40 are refused`);
    const stopped = await manager.stop(bomb.id, { graceMs: 200 });
    strictEqual(stopped.state, "stopped");
    ok(stopped.cpuNanos! > 0n);
    await manager.settled();
    strictEqual(await exists(dir), false);
  }, { userns: pool(base) });
});
