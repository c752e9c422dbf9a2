/**
 * Job start latency and throughput. Start-to-exit of `/bin/true` on the same busybox rootfs
 * through JobManager (as ijrd runs it: a user namespace and the seccomp filter; and without
 * them, to show what each costs) against bwrap --unshare-all (which makes a user namespace too), unshare --pid --fork --mount --net --uts
 * --ipc (chroot'ed) and runc run, interleaved in one run; medians and ratios to bwrap. Then
 * jobs per second for 500 short jobs, 4 at a time.
 *
 * Run as root: .tools/bin/deno run -A bench/job_start_bench.ts [rounds]
 * Peers missing from the machine (apt-get install bubblewrap runc) are skipped, with a note.
 */

import { join } from "node:path";
import { JobManager } from "../lib/job/mod.ts";
import { UsernsPool } from "../lib/job/userns_pool.ts";
import { busyboxRootfsDir } from "../tests/helpers/busybox.ts";
import { FixtureRootfs } from "../tests/helpers/jobs.ts";

const rounds = Number(Deno.args[0] ?? 40);
const rootfs = await busyboxRootfsDir();
const stateDir = await Deno.makeTempDir({ prefix: "ijr-bench-" });
// What ijrd runs by default: a user namespace from a pool and the seccomp filter.
const manager = await JobManager.open({
  stateDir,
  rootfs: new FixtureRootfs({ busybox: rootfs }),
  userns: new UsernsPool(1879048192, 16 * 65536),
});
// Without either (ijrd --userns=off --seccomp off), to show what each costs.
const bareStateDir = await Deno.makeTempDir({ prefix: "ijr-bench-" });
const bare = await JobManager.open({
  stateDir: bareStateDir,
  rootfs: new FixtureRootfs({ busybox: rootfs }),
  seccomp: false,
});
const seccompStateDir = await Deno.makeTempDir({ prefix: "ijr-bench-" });
const seccompOnly = await JobManager.open({
  stateDir: seccompStateDir,
  rootfs: new FixtureRootfs({ busybox: rootfs }),
});
// The same with the job's writable layer on the state disk (ijrd --scratch=disk).
const diskStateDir = await Deno.makeTempDir({ prefix: "ijr-bench-disk-" });
const diskManager = await JobManager.open({
  stateDir: diskStateDir,
  rootfs: new FixtureRootfs({ busybox: rootfs }),
  scratch: { on: "disk" },
});

function has(command: string): boolean {
  try {
    return new Deno.Command("which", { args: [command], stdout: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd}: ${new TextDecoder().decode(out.stderr)}`);
}

// runc needs an OCI bundle: config.json (from `runc spec`, made rootless-free and terminal-
// less) and the rootfs.
let bundle: string | undefined;
if (has("runc")) {
  bundle = await Deno.makeTempDir({ prefix: "ijr-bench-runc-" });
  await run("runc", ["spec"], bundle);
  const spec = JSON.parse(await Deno.readTextFile(join(bundle, "config.json")));
  spec.process.terminal = false;
  spec.process.args = ["/bin/true"];
  spec.root = { path: rootfs, readonly: true };
  await Deno.writeTextFile(join(bundle, "config.json"), JSON.stringify(spec));
}

const cases: Record<string, () => Promise<void>> = {
  "ijr JobManager": async () => {
    const job = await manager.start({ owner: "bench", rootfs: "busybox", argv: ["/bin/true"] });
    await manager.wait(job.id);
  },
  "ijr, seccomp, no userns": async () => {
    const job = await seccompOnly.start({ owner: "bench", rootfs: "busybox", argv: ["/bin/true"] });
    await seccompOnly.wait(job.id);
  },
  "ijr, neither": async () => {
    const job = await bare.start({ owner: "bench", rootfs: "busybox", argv: ["/bin/true"] });
    await bare.wait(job.id);
  },
  "ijr JobManager, disk scratch": async () => {
    const job = await diskManager.start({
      owner: "bench",
      rootfs: "busybox",
      argv: ["/bin/true"],
    });
    await diskManager.wait(job.id);
  },
};
if (has("bwrap")) {
  cases["bwrap --unshare-all"] = () =>
    run("bwrap", [
      "--unshare-all",
      "--ro-bind",
      rootfs,
      "/",
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "/bin/true",
    ]);
}
cases["unshare -pfmnui + chroot"] = () =>
  run("unshare", [
    "--pid",
    "--fork",
    "--mount",
    "--net",
    "--uts",
    "--ipc",
    "chroot",
    rootfs,
    "/bin/true",
  ]);
if (bundle) {
  let n = 0;
  cases["runc run"] = () =>
    run("runc", ["run", "--bundle", bundle!, `ijr-bench-${Deno.pid}-${n++}`]);
}

const samples: Record<string, number[]> = Object.fromEntries(
  Object.keys(cases).map((k) => [k, []]),
);
for (const fn of Object.values(cases)) await fn(); // warm up
for (let i = 0; i < rounds; i++) {
  for (const [name, fn] of Object.entries(cases)) samples[name].push(await timed(fn));
}
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const base = samples["bwrap --unshare-all"] ? median(samples["bwrap --unshare-all"]) : undefined;
console.log(`start-to-exit of /bin/true, ${rounds} rounds, interleaved`);
for (const [name, values] of Object.entries(samples)) {
  const m = median(values);
  const ratio = base ? `  ${(m / base).toFixed(2)}x bwrap` : "";
  console.log(`  ${name.padEnd(30)} median ${m.toFixed(2)} ms${ratio}`);
}
for (const peer of ["bwrap", "runc"]) {
  if (!has(peer)) console.log(`  (${peer} not installed: skipped)`);
}

// Throughput: 500 short jobs, 4 at a time.
const total = 500;
let next = 0;
const started = performance.now();
await Promise.all(Array.from({ length: 4 }, async () => {
  while (next < total) {
    next++;
    const job = await manager.start({ owner: "bench", rootfs: "busybox", argv: ["/bin/true"] });
    await manager.wait(job.id);
  }
}));
const seconds = (performance.now() - started) / 1000;
console.log(`throughput: ${total} jobs, 4 at a time: ${(total / seconds).toFixed(0)} jobs/s`);

await manager.shutdown();
await bare.shutdown();
await seccompOnly.shutdown();
await diskManager.shutdown();
await Deno.remove(bareStateDir, { recursive: true });
await Deno.remove(seccompStateDir, { recursive: true });
await Deno.remove(stateDir, { recursive: true });
await Deno.remove(diskStateDir, { recursive: true });
if (bundle) await Deno.remove(bundle, { recursive: true });
