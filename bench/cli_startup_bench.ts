/**
 * ijrctl start-up cost: `ijrctl --help` and `ijrctl job list` (against a real ijrd on
 * loopback, as root) next to a bare `deno run` of an empty script and the floor of the stack
 * (bench/grpc_floor_client.ts: a script that imports grpc-js and makes one mutual-TLS call,
 * with and without ijrctl's TLS warm-up), in the same run, interleaved, reporting medians and
 * ratios. Goals: help within 1.2x of the empty script (issue 6), job list within 2x of the
 * floor (issue 16).
 *
 * Run: .tools/bin/deno run -A bench/cli_startup_bench.ts [rounds]
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cleanupDaemon, startDaemon } from "../tests/helpers/daemon.ts";

const REPO = join(fileURLToPath(new URL(".", import.meta.url)), "..");
const rounds = Number(Deno.args[0] ?? 15);

async function timeRun(args: string[]): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO,
    stdout: "null",
    stderr: "null",
  })
    .output();
  if (!out.success && !args.includes("bogus")) throw new Error(`failed: ${args.join(" ")}`);
  return performance.now() - started;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const empty = await Deno.makeTempFile({ suffix: ".ts" });
const cases: Record<string, string[]> = {
  "deno run empty.ts": ["run", "-A", empty],
  "ijrctl --help": ["run", "-A", join(REPO, "ctl.ts"), "--help"],
  "ijrctl job bogus (usage error)": ["run", "-A", join(REPO, "ctl.ts"), "job", "bogus"],
};
const daemon = Deno.uid() === 0 ? await startDaemon() : undefined;
if (daemon) {
  const file = (name: string) => join(daemon.dir, name);
  const floor = [
    "run",
    "-A",
    join(REPO, "bench", "grpc_floor_client.ts"),
    `localhost:${daemon.port}`,
    file("ca.crt"),
    file("admin.crt"),
    file("admin.key"),
  ];
  cases["floor: grpc-js + 1 mTLS call"] = floor;
  cases["floor, TLS seeding warmed"] = [...floor, "--warm-tls"];
  cases["ijrctl job list (mTLS to ijrd)"] = [
    "run",
    "-A",
    join(REPO, "ctl.ts"),
    "job",
    "list",
    `--config=${daemon.configs.admin}`,
  ];
} else {
  console.log("not root: job list is not measured (ijrd needs root)");
}
const samples: Record<string, number[]> = Object.fromEntries(
  Object.keys(cases).map((k) => [k, []]),
);
// Warm the module cache once, then interleave so drift affects every case alike.
for (const args of Object.values(cases)) await timeRun(args);
for (let i = 0; i < rounds; i++) {
  for (const [name, args] of Object.entries(cases)) samples[name].push(await timeRun(args));
}
await Deno.remove(empty);
if (daemon) await cleanupDaemon(daemon);

const base = median(samples["deno run empty.ts"]);
// The floor is the faster of the two floor scripts.
const floors = ["floor: grpc-js + 1 mTLS call", "floor, TLS seeding warmed"]
  .filter((name) => samples[name]).map((name) => median(samples[name]));
const floor = floors.length ? Math.min(...floors) : undefined;
console.log(`rounds: ${rounds}`);
for (const [name, values] of Object.entries(samples)) {
  const m = median(values);
  const vsFloor = floor === undefined ? "" : `  ${(m / floor).toFixed(2)}x the floor`;
  console.log(
    `${name.padEnd(32)} median ${m.toFixed(1)} ms  ratio ${(m / base).toFixed(2)}x${vsFloor}`,
  );
}
