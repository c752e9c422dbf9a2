/**
 * A job's cgroup made on the spot against one made ahead (lib/cgroup/spares.ts, cgroup v1):
 * `create` of a job cgroup with limits (64 MiB, 64 pids, 512 shares) in a user's group, then its
 * `remove`, 20 ms apart, for a controller without spares (a group is made with its first job and
 * removed with its last, as before spares) and one with ijrd's linger (the group stays, with a
 * spare renamed into the next job's place), alternating in one run; medians. The controllers
 * work under a parent of this process's own, removed at the end. On cgroup v2 both take the same
 * path (cgroup2 renames nothing).
 *
 * Run as root: .tools/bin/deno run -A bench/cgroup_create_bench.ts [jobs per round]
 * @module
 */

import { createCgroupController, resolveJobLimits } from "../lib/cgroup/mod.ts";
import { GROUP_LINGER_MS } from "../lib/daemon/start.ts";

const jobs = Number(Deno.args[0] ?? 40);
const limits = await resolveJobLimits({ memoryBytes: 64 * 2 ** 20, pids: 64, cpuShares: 512 });
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const results: Record<string, { create: number[]; remove: number[] }> = {};

for (let round = 0; round < 4; round++) {
  for (
    const [name, groupLingerMs] of [["made at the start", 0], [
      "made ahead",
      GROUP_LINGER_MS,
    ]] as const
  ) {
    const controller = await createCgroupController({
      parent: `ijr-bench-create-${Deno.pid}`,
      groupLingerMs,
    });
    const samples = results[name] ??= { create: [], remove: [] };
    try {
      await controller.capEveryGroup({ pids: 4096 });
      for (let i = 0; i < jobs; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        let started = performance.now();
        const job = await controller.create(`job-${round}-${i}`, limits, "user-alice-2bd806c9");
        samples.create.push(performance.now() - started);
        started = performance.now();
        await job.remove();
        samples.remove.push(performance.now() - started);
      }
    } finally {
      await controller.removeEmptyParents();
    }
  }
}

console.log(`a job's cgroup in a user's group, ${jobs * 4} jobs each, 20 ms apart (medians)`);
const base = median(results["made at the start"].create);
for (const [name, { create, remove }] of Object.entries(results)) {
  console.log(
    `  ${name.padEnd(18)} create ${median(create).toFixed(3)} ms (${
      (median(create) / base).toFixed(2)
    }x), remove ${median(remove).toFixed(3)} ms`,
  );
}
