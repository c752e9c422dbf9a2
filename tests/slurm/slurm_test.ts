/**
 * IJR under Slurm, for real: a one-node Slurm cluster (tests/slurm/cluster.ts) beside a real
 * ijrd, and Slurm job steps that run `ijrctl job start --output` against it, the integration
 * docs/scale-out.md describes. Slurm sees the IJR job's output and exit status, and its
 * cancel and its time limit (a SIGTERM to the step, then SIGKILL after KillWait) stop the IJR
 * job within ijrctl's --grace, before Slurm's SIGKILL could end ijrctl.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO } from "../helpers/cli.ts";
import { cleanupDaemon, startDaemon, type TestDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { sleep } from "../helpers/wait.ts";
import { connect } from "../../lib/ctl/connect.ts";
import { JobState } from "../../lib/gen/ijr/v1/job_pb.ts";
import { NODE, type SlurmCluster, startSlurmCluster } from "./cluster.ts";
import { slurmTest } from "./lane.ts";

/** Slurm's wait between its SIGTERM and its SIGKILL: longer than any --grace below. */
const KILL_WAIT_SECONDS = 15;

/** `ijrctl` on the steps' PATH: ctl.ts from this checkout, exec'd so signals reach it. */
function writeIjrctl(dir: string): string {
  const bin = join(dir, "bin");
  Deno.mkdirSync(bin);
  Deno.writeTextFileSync(
    join(bin, "ijrctl"),
    `#!/bin/sh\nexec '${Deno.execPath()}' run -A --quiet '${join(REPO, "ctl.ts")}' "$@"\n`,
    { mode: 0o755 },
  );
  return bin;
}

/** Resolves with the file's text once it contains `text`. */
async function fileWith(path: string, text: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const content = await Deno.readTextFile(path).catch(() => "");
    if (content.includes(text)) return content;
    if (Date.now() > deadline) {
      throw new Error(`${path} never showed ${JSON.stringify(text)}: ${JSON.stringify(content)}`);
    }
    await sleep(100);
  }
}

/** A batch script that execs ijrctl, so the batch step's own process is ijrctl. */
async function submitBatch(
  cluster: SlurmCluster,
  name: string,
  ijrctlArgs: string,
  sbatchFlags: string[] = [],
): Promise<{ slurmJob: string; output: string }> {
  const script = join(cluster.dir, `${name}.sh`);
  const output = join(cluster.dir, `${name}.out`);
  Deno.writeTextFileSync(script, `#!/bin/sh\nexec ijrctl ${ijrctlArgs}\n`, { mode: 0o755 });
  const submitted = await cluster.run("sbatch", [
    "--parsable",
    `--output=${output}`,
    ...sbatchFlags,
    script,
  ]);
  assert.equal(submitted.code, 0, submitted.stderr);
  return { slurmJob: submitted.stdout.trim(), output };
}

/** `scontrol show job`'s fields of a Slurm job (kept for a while after it ended). */
async function slurmJob(cluster: SlurmCluster, id: string): Promise<Record<string, string>> {
  const shown = await cluster.run("scontrol", ["show", "job", id, "--oneliner"]);
  assert.equal(shown.code, 0, shown.stderr);
  return Object.fromEntries(
    shown.stdout.trim().split(/\s+/).map((field) => field.split(/=(.*)/s, 2) as [string, string]),
  );
}

async function slurmJobGone(cluster: SlurmCluster, id: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while ((await cluster.run("squeue", ["--noheader", `--jobs=${id}`])).stdout.trim() !== "") {
    if (Date.now() > deadline) throw new Error(`Slurm job ${id} did not end`);
    await sleep(200);
  }
}

/** Watches an IJR job until it has ended, and returns its final status. */
async function ended(daemon: TestDaemon, jobId: string, timeoutMs: number) {
  const { jobs, close } = connect({ config: daemon.configs.alice });
  try {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const { job } = await jobs.getJob({ jobId }, { timeoutMs: 10_000 });
      if (job!.state !== JobState.RUNNING) return job!;
      if (Date.now() > deadline) throw new Error(`IJR job ${jobId} still runs`);
      await sleep(50);
    }
  } finally {
    close();
  }
}

/**
 * The StopJob calls ijrd logged for a job: who asked, and how long the stop took, from the
 * request to the job's end (the grace period, for a job that ignores SIGTERM).
 */
function stopCalls(daemon: TestDaemon, jobId: string) {
  return daemon.stderr().split("\n")
    .filter((line) => line.includes('"method":"/ijr.v1.JobService/StopJob"'))
    .map((line) => JSON.parse(line))
    .filter((entry) => entry.job === jobId);
}

slurmTest(
  "slurm: srun and sbatch run IJR jobs; scancel and --time stop them within ijrctl's grace",
  async (t) => {
    const daemon = await startDaemon();
    let cluster: SlurmCluster | undefined;
    try {
      await uploadBusybox(daemon);
      const bin = writeIjrctl(daemon.dir);
      cluster = await startSlurmCluster({
        killWaitSeconds: KILL_WAIT_SECONDS,
        env: { PATH: `${bin}:${Deno.env.get("PATH")}`, IJR_CONFIG: daemon.configs.alice },
      });
      const slurm = cluster;

      // Slurm counts time limits in minutes and checks them every 30 s: the time-limited job
      // goes first and is checked last, while the others run.
      const timed = await submitBatch(
        slurm,
        "timed",
        `job start --rootfs=bb --output --grace=3s -- sh -c "trap '' TERM; echo ready; ` +
          `while :; do sleep 1; done"`,
        ["--time=1"],
      );

      await t.step("srun: the IJR job's output and exit status are the step's", async () => {
        const run = await slurm.run("srun", [
          "ijrctl",
          "job",
          "start",
          "--rootfs=bb",
          "--output",
          "--",
          "sh",
          "-c",
          "echo hi; exit 3",
        ]);
        assert.equal(run.code, 3, run.stderr);
        const id = run.stdout.split("\n")[0];
        assert.equal(run.stdout, `${id}\nhi\n`);
        assert.match(run.stderr, new RegExp(`${NODE}: task 0: Exited with exit code 3`));
        const status = await daemon.ctl("alice", ["job", "status", id, "--json"]);
        assert.equal(JSON.parse(status.stdout).exitCode, 3);
      });

      await t.step("sbatch: the IJR job's output lands in Slurm's output file", async () => {
        const output = join(slurm.dir, "batch.out");
        const script = join(slurm.dir, "batch.sh");
        Deno.writeTextFileSync(
          script,
          "#!/bin/sh\nexec ijrctl job start --rootfs=bb --output --rm -- " +
            "sh -c 'echo from IJR; echo to stderr >&2; exit 5'\n",
          { mode: 0o755 },
        );
        // --wait: sbatch returns once the job has ended, with its exit code.
        const batch = await slurm.run("sbatch", ["--wait", `--output=${output}`, script]);
        assert.equal(batch.code, 5, batch.stderr);
        const text = Deno.readTextFileSync(output);
        const id = text.split("\n")[0];
        assert.match(id, /^[0-9a-f]{16}$/);
        assert.equal(text, `${id}\nfrom IJR\nto stderr\n`);
        // --rm: its record and output are gone from ijrd once delivered.
        const status = await daemon.ctl("alice", ["job", "status", id]);
        assert.equal(status.stderr, `ijrctl job status: job ${id} not found\n`);
      });

      await t.step(
        "scancel: the IJR job is stopped within the grace, and Slurm sees it end",
        async () => {
          const { slurmJob: cancelled, output } = await submitBatch(
            slurm,
            "cancelled",
            "job start --rootfs=bb --output --grace=5s -- sh -c 'echo ready; sleep 600'",
          );
          const started = await fileWith(output, "ready\n", 60_000);
          const id = started.split("\n")[0];
          const cancelledAt = Date.now();
          const cancel = await slurm.run("scancel", [cancelled]);
          assert.equal(cancel.code, 0, cancel.stderr);
          const job = await ended(daemon, id, 30_000);
          const tookMs = Date.now() - cancelledAt;
          assert.equal(job.state, JobState.STOPPED);
          assert.equal(job.signal, 15);
          assert.ok(tookMs < 5_000, `stopped ${tookMs} ms after scancel, past the 5 s grace`);
          const stops = stopCalls(daemon, id);
          assert.equal(stops.length, 1, daemon.stderr());
          assert.equal(stops[0].identity, "alice(user)");
          assert.equal(stops[0].outcome, "OK");
          await slurmJobGone(slurm, cancelled, 30_000);
          const text = Deno.readTextFileSync(output);
          assert.ok(text.startsWith(`${id}\nready\n`), text);
          const notice = `ijrctl: SIGTERM: stopping job ${id} (SIGTERM, then kill after 5s); ` +
            "another signal kills it at once\n";
          assert.ok(text.includes(notice), text);
          assert.match(text, new RegExp(`\\*\\*\\* JOB ${cancelled} ON ${NODE} CANCELLED AT `));
          const shown = await slurmJob(slurm, cancelled);
          assert.equal(shown.JobState, "CANCELLED");
          // ijrctl ended by itself with the job's status, before any SIGKILL from Slurm.
          assert.equal(shown.ExitCode, "143:0");
        },
      );

      await t.step("--time: Slurm's time limit stops the IJR job within the grace", async () => {
        const started = await fileWith(timed.output, "ready\n", 60_000);
        const id = started.split("\n")[0];
        const notice = `ijrctl: SIGTERM: stopping job ${id} (SIGTERM, then kill after 3s); ` +
          "another signal kills it at once\n";
        // The limit is one minute, checked every 30 s; then ijrctl gets SIGTERM.
        const job = await ended(daemon, id, 150_000);
        // The job ignores SIGTERM: ijrd kills it when the 3 s grace is over.
        assert.equal(job.state, JobState.STOPPED);
        assert.equal(job.signal, 9);
        const stops = stopCalls(daemon, id);
        assert.equal(stops.length, 1, daemon.stderr());
        assert.equal(stops[0].outcome, "OK");
        assert.ok(
          stops[0].durationMs >= 3_000 && stops[0].durationMs < 4_000,
          `the stop took ${stops[0].durationMs} ms, the grace is 3 s`,
        );
        await slurmJobGone(slurm, timed.slurmJob, 30_000);
        const text = Deno.readTextFileSync(timed.output);
        assert.ok(text.startsWith(`${id}\nready\n`), text);
        assert.ok(text.includes(notice), text);
        assert.match(
          text,
          new RegExp(
            `\\*\\*\\* JOB ${timed.slurmJob} ON ${NODE} CANCELLED AT .* DUE TO TIME LIMIT \\*\\*\\*`,
          ),
        );
        const shown = await slurmJob(slurm, timed.slurmJob);
        assert.equal(shown.JobState, "TIMEOUT");
        assert.equal(shown.ExitCode, "137:0");
      });

      await t.step(
        "afterwards: no IJR job runs, and the cluster stops and is removed",
        async () => {
          const running = await daemon.ctl("admin", ["job", "list", "--json"]);
          assert.deepEqual(JSON.parse(running.stdout), []);
          const dir = slurm.dir;
          cluster = undefined;
          await slurm.stop();
          await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
        },
      );
    } finally {
      await cluster?.stop();
      await cleanupDaemon(daemon);
    }
  },
);
