/**
 * Output throughput of a job that writes as fast as it can: the probe's `flood` mode writes
 * a fixed number of bytes to its stdout, through JobManager (the job's output file under the
 * state folder), against the same program run on the host writing straight to a file in the
 * same folder (the ceiling), and through a pipe into `cat` (a copier in between). Interleaved,
 * medians and ratios; not a timed test.
 *
 * Run as root: .tools/bin/deno run -A bench/job_output_bench.ts [rounds] [state-dir-parent]
 * @module
 */

import { join } from "node:path";
import { JobManager } from "../lib/job/mod.ts";
import { busyboxRootfsDir, PROBE_PATH } from "../tests/helpers/busybox.ts";
import { FixtureRootfs } from "../tests/helpers/jobs.ts";

const rounds = Number(Deno.args[0] ?? 5);
const parent = Deno.args[1] ?? Deno.env.get("TMPDIR") ?? "/tmp";
const rootfs = await busyboxRootfsDir();
const stateDir = await Deno.makeTempDir({ dir: parent, prefix: "ijr-bench-" });
const manager = await JobManager.open({ stateDir, rootfs: new FixtureRootfs({ busybox: rootfs }) });
// The same with an output limit in force (far above what the job writes): RLIMIT_FSIZE, and
// the init's watch on the output, which wakes on every write.
const limitedStateDir = await Deno.makeTempDir({ dir: parent, prefix: "ijr-bench-" });
const limited = await JobManager.open({
  stateDir: limitedStateDir,
  rootfs: new FixtureRootfs({ busybox: rootfs }),
  maxOutputBytes: 64 * 2 ** 30,
});

const workloads = [
  { name: "1 GiB in 64 KiB writes", bytes: 1 << 30, size: 65536 },
  { name: "256 MiB in 4 KiB writes", bytes: 256 << 20, size: 4096 },
];

/** Times `fn` (which returns the file it wrote), then removes that file untimed. */
async function timed(fn: () => Promise<string>): Promise<number> {
  const started = performance.now();
  const written = await fn();
  const elapsed = performance.now() - started;
  await Deno.remove(written, { recursive: true });
  return elapsed;
}

async function viaJob(manager: JobManager, bytes: number, size: number): Promise<string> {
  const job = await manager.start({
    owner: "bench",
    rootfs: "busybox",
    argv: ["/bin/probe", "flood", String(bytes), String(size)],
  });
  const end = await manager.wait(job.id);
  const output = join(
    manager === limited ? limitedStateDir : stateDir,
    "jobs",
    job.id,
    "output",
  );
  const written = Deno.statSync(output).size;
  if (end.exitCode !== 0 || written !== bytes) {
    throw new Error(`job ${job.id}: ${end.state} ${end.exitCode}, ${written} bytes`);
  }
  return output;
}

/** The probe on the host, its stdout a file in the state folder, or a pipe into `cat`. */
async function onHost(bytes: number, size: number, through: "file" | "pipe"): Promise<string> {
  const path = join(stateDir, `host-${through}`);
  const script = through === "file"
    ? `exec "$0" flood ${bytes} ${size} > "$1"`
    : `"$0" flood ${bytes} ${size} | cat > "$1"`;
  const sh = await new Deno.Command("sh", { args: ["-c", script, PROBE_PATH, path] }).output();
  if (!sh.success) throw new Error("host flood failed");
  return path;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(`job output throughput, ${rounds} rounds, interleaved, state under ${parent}`);
for (const { name, bytes, size } of workloads) {
  const samples: Record<string, number[]> = {
    "ijr job": [],
    "ijr job, output limit": [],
    "host, straight to a file": [],
    "host, through a pipe": [],
  };
  for (let i = 0; i < rounds; i++) {
    samples["ijr job"].push(await timed(() => viaJob(manager, bytes, size)));
    samples["ijr job, output limit"].push(await timed(() => viaJob(limited, bytes, size)));
    samples["host, straight to a file"].push(await timed(() => onHost(bytes, size, "file")));
    samples["host, through a pipe"].push(await timed(() => onHost(bytes, size, "pipe")));
  }
  const base = median(samples["host, straight to a file"]);
  console.log(`  ${name}`);
  for (const [runner, values] of Object.entries(samples)) {
    const m = median(values);
    const rate = bytes / (1 << 20) / (m / 1000);
    console.log(
      `    ${runner.padEnd(26)} ${m.toFixed(0).padStart(6)} ms ${
        rate.toFixed(0).padStart(6)
      } MiB/s` +
        `  ${(m / base).toFixed(2)}x`,
    );
  }
}

await manager.shutdown();
await limited.shutdown();
await Deno.remove(stateDir, { recursive: true });
await Deno.remove(limitedStateDir, { recursive: true });
