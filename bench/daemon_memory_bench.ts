/**
 * What ijrd holds for the jobs it runs and remembers, against its own idle figures in the
 * same run: RSS idle, with 1000 running `sleep` jobs, and with 10,000 finished jobs retained;
 * GetJob and ListJobs (all jobs) latency idle and with the 10,000 retained. Not a timed test.
 *
 * The 10,000 finished jobs are records written into the state folder (copies of a real
 * finished job's record under new IDs, with empty output) that a restarted ijrd loads, the
 * way it loads what it left itself.
 *
 * Run as root: .tools/bin/deno run -A bench/daemon_memory_bench.ts [running] [retained]
 * @module
 */

import { join } from "node:path";
import { JobState } from "../lib/gen/ijr/v1/job_pb.ts";
import { connect } from "../lib/ctl/connect.ts";
import { newJobId } from "../lib/job/mod.ts";
import {
  cleanupDaemon,
  startDaemon,
  type TestDaemon,
  uploadBusybox,
} from "../tests/helpers/daemon.ts";

const running = Number(Deno.args[0] ?? 1000);
const retained = Number(Deno.args[1] ?? 10_000);
const FLAGS = [
  `--max-jobs=${running + 10}`,
  `--max-jobs-per-user=${running + 10}`,
  `--retain=${retained + running + 10}`,
];

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(/^VmRSS:\s+(\d+) kB$/m)![1]) / 1024;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Medians of GetJob and ListJobs (include_finished) over `rounds` calls each. */
async function latencies(daemon: TestDaemon, jobId: string, rounds = 200) {
  const connection = connect({ config: daemon.configs.admin });
  try {
    await connection.jobs.getJob({ jobId }); // connect and warm up
    const get: number[] = [];
    const list: number[] = [];
    for (let i = 0; i < rounds; i++) {
      let started = performance.now();
      await connection.jobs.getJob({ jobId });
      get.push(performance.now() - started);
      if (i % 10 === 0) {
        started = performance.now();
        await connection.jobs.listJobs({ includeFinished: true });
        list.push(performance.now() - started);
      }
    }
    return { get: median(get), list: median(list) };
  } finally {
    connection.close();
  }
}

/** Lets the daemon settle (timers, GC) before its RSS is read. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 3000));

const lines: string[] = [];
let daemon = await startDaemon(FLAGS);
try {
  await uploadBusybox(daemon);
  const connection = connect({ config: daemon.configs.admin });
  const { job: first } = await connection.jobs.startJob({ rootfs: "bb", argv: ["true"] });
  for await (const _ of connection.jobs.streamOutput({ jobId: first!.id })) { /* ends */ }
  await settle();
  const idle = rssMiB(daemon.process.pid);
  const idleLatency = await latencies(daemon, first!.id);
  lines.push(`idle (1 finished job)          RSS ${idle.toFixed(0)} MiB`);
  lines.push(
    `  GetJob ${idleLatency.get.toFixed(2)} ms, ListJobs(all) ${idleLatency.list.toFixed(2)} ms`,
  );

  // Running jobs, started by 4 clients at once.
  const ids: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    const client = connect({ config: daemon.configs.admin });
    try {
      while (next < running) {
        next++;
        const { job } = await client.jobs.startJob({ rootfs: "bb", argv: ["sleep", "3600"] });
        ids.push(job!.id);
      }
    } finally {
      client.close();
    }
  }));
  await settle();
  const busy = rssMiB(daemon.process.pid);
  lines.push(
    `${running} running sleep jobs        RSS ${busy.toFixed(0)} MiB (${
      (busy - idle).toFixed(0)
    } MiB ` +
      `over idle, ${((busy - idle) * 1024 / running).toFixed(0)} KiB per job)`,
  );
  await Promise.all(Array.from({ length: 4 }, async (_, lane) => {
    const client = connect({ config: daemon.configs.admin });
    try {
      for (let i = lane; i < ids.length; i += 4) {
        const { job } = await client.jobs.stopJob({ jobId: ids[i], gracePeriod: { seconds: 0n } });
        if (job!.state !== JobState.STOPPED) throw new Error(`job ${ids[i]} ended ${job!.state}`);
      }
    } finally {
      client.close();
    }
  }));
  connection.close();

  // Retained jobs: a restarted ijrd over a state folder holding `retained` finished jobs.
  await daemon.stop();
  const jobsDir = join(daemon.stateDir, "jobs");
  const template = JSON.parse(Deno.readTextFileSync(join(jobsDir, first!.id, "job.json")));
  for (let i = 0; i < retained; i++) {
    const id = newJobId();
    Deno.mkdirSync(join(jobsDir, id), { mode: 0o700 });
    const endedAt = new Date(Date.now() - (retained - i) * 1000).toISOString();
    Deno.writeTextFileSync(
      join(jobsDir, id, "job.json"),
      JSON.stringify({ ...template, id, endedAt }, null, 2) + "\n",
    );
    Deno.writeFileSync(join(jobsDir, id, "output"), new Uint8Array());
  }
  daemon = await startDaemon(FLAGS, { dir: daemon.dir, port: daemon.port });
  await settle();
  const full = rssMiB(daemon.process.pid);
  const fullLatency = await latencies(daemon, first!.id);
  lines.push(
    `${retained + running + 1} finished jobs retained  RSS ${full.toFixed(0)} MiB ` +
      `(${(full - idle).toFixed(0)} MiB over idle)`,
  );
  lines.push(
    `  GetJob ${fullLatency.get.toFixed(2)} ms (${
      (fullLatency.get / idleLatency.get).toFixed(2)
    }x ` +
      `idle), ListJobs(all) ${fullLatency.list.toFixed(2)} ms`,
  );
} finally {
  await cleanupDaemon(daemon);
}
console.log(lines.join("\n"));
