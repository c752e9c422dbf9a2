/**
 * Jobs through the whole stack: 200 `/bin/true` jobs started by one connected client over
 * mutual TLS against a real ijrd process, one after another: jobs per second and the median
 * time from StartJob to the job's end as the client sees it (WaitJob's answer, the final
 * status), next to the same figure for JobManager called directly in this process without
 * cgroups (the library-only figure), so the ratio shows what gRPC, TLS, the daemon and its
 * cgroups add. bench/api_speed_bench.ts compares with the library as ijrd runs it.
 *
 * Run as root: .tools/bin/deno run -A bench/rpc_jobs_bench.ts [jobs]
 */

import { JobState } from "../lib/gen/ijr/v1/job_pb.ts";
import { connect } from "../lib/ctl/connect.ts";
import { JobManager } from "../lib/job/mod.ts";
import { busyboxRootfsDir } from "../tests/helpers/busybox.ts";
import { cleanupDaemon, startDaemon, uploadBusybox } from "../tests/helpers/daemon.ts";
import { FixtureRootfs } from "../tests/helpers/jobs.ts";

const count = Number(Deno.args[0] ?? 200);
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// Library only.
const stateDir = await Deno.makeTempDir({ prefix: "ijr-bench-" });
const manager = await JobManager.open({
  stateDir,
  rootfs: new FixtureRootfs({ busybox: await busyboxRootfsDir() }),
});
const library: number[] = [];
for (let i = 0; i < count; i++) {
  const started = performance.now();
  const job = await manager.start({ owner: "bench", rootfs: "busybox", argv: ["/bin/true"] });
  await manager.wait(job.id);
  library.push(performance.now() - started);
}
await Deno.remove(stateDir, { recursive: true });

// Through ijrd.
const daemon = await startDaemon();
try {
  await uploadBusybox(daemon);
  const connection = connect({ config: daemon.configs.alice });
  const rpc: number[] = [];
  const begun = performance.now();
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const { job } = await connection.jobs.startJob({ rootfs: "bb", argv: ["/bin/true"] });
    const { job: final } = await connection.jobs.waitJob({ jobId: job!.id });
    if (final!.state !== JobState.EXITED) throw new Error(`job ${job!.id} ended ${final!.state}`);
    rpc.push(performance.now() - started);
  }
  const seconds = (performance.now() - begun) / 1000;
  connection.close();
  console.log(`${count} jobs of /bin/true, one after another`);
  console.log(`  library (JobManager)   median ${median(library).toFixed(2)} ms`);
  console.log(
    `  ijrctl client -> ijrd  median ${median(rpc).toFixed(2)} ms  ` +
      `(${(median(rpc) / median(library)).toFixed(2)}x the library), ${
        (count / seconds).toFixed(0)
      } jobs/s`,
  );
} finally {
  await cleanupDaemon(daemon);
}
