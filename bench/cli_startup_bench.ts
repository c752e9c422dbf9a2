/**
 * ijrctl start-up cost: `ijrctl --help` and `ijrctl job list` (against a real ijrd on
 * loopback, as root) next to a bare `deno run` of an empty script, in the same run,
 * interleaved, reporting medians and ratios. Goals (issue 6): help within 1.2x of the empty
 * script, job list within 2x, because help loads no gRPC, TLS or certificate code.
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
console.log(`rounds: ${rounds}`);
for (const [name, values] of Object.entries(samples)) {
  const m = median(values);
  console.log(`${name.padEnd(32)} median ${m.toFixed(1)} ms  ratio ${(m / base).toFixed(2)}x`);
}
