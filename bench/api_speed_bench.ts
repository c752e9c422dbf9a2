/**
 * The API against the engine and the transport (issue 16), side by side in one run:
 *
 * 1. unary: every unary RPC against a real ijrd (GetJob and StopJob of an ended job, ListJobs
 *    with 100 jobs, ListRootfs, WaitJob of an ended job) next to a bare grpc-js unary echo
 *    with the same mutual TLS and no protobuf, its server in this process and in a process of
 *    its own (bench/echo_server.ts) the way ijrd is, and the latter again from a client
 *    without channelz (the leanest grpc-js client). ijrd's calls go through IJR's own client
 *    (lib/rpc/client), and GetJob and RunJob also through grpc-js's, side by side. Calls go in bursts of 20 per case, the
 *    cases in a rotating order, for `--rounds` rounds; then one at a time, each 20 ms after
 *    the last (the way a person or a script calls); medians.
 * 2. start: start-to-exit of /bin/true with cgroup limits set (64 MiB memory, 64 pids, 512
 *    CPU shares): through ijrd (StartJob, then WaitJob, whose answer is the final status), the
 *    library in this process configured as ijrd runs it (cgroups in a user's group, a user
 *    namespace, the seccomp filter), `bwrap --unshare-all`, and the floor of any API over this
 *    transport (the library's start-to-exit between two echo calls to the echo server in its
 *    own process, from a client without channelz); and the same in one call (RunJob, against the library after one echo
 *    call), in a rotating order, each start 50 ms after the previous end; medians.
 * 3. rate: jobs per second for `--jobs` jobs, 4 at a time: 4 connected clients through ijrd
 *    against the library at concurrency 4 and the floor (each library job between two echo
 *    calls, over 4 connections), then the 4 clients with RunJob, in turn, `--pairs` times.
 *
 * Run as root: .tools/bin/deno run -A bench/api_speed_bench.ts [--only unary,start,rate]
 *   [--rounds N] [--jobs N] [--pairs N]
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  GetJobRequestSchema,
  GetJobResponseSchema,
  type Job,
  JobState,
  ListJobsResponseSchema,
  RunJobResponseSchema,
  StartJobRequestSchema,
} from "../lib/gen/ijr/v1/job_pb.ts";
import { decodeMessage } from "../lib/rpc/wire/mod.ts";
import { connect, type Connection } from "../lib/ctl/connect.ts";
import { createCgroupController } from "../lib/cgroup/mod.ts";
import { JobManager } from "../lib/job/mod.ts";
import { UsernsPool } from "../lib/job/userns_pool.ts";
import { GROUP_LINGER_MS } from "../lib/daemon/start.ts";
import { clientCredentials } from "../tests/helpers/grpc_js_credentials.ts";
import { busyboxRootfsDir } from "../tests/helpers/busybox.ts";
import { cleanupDaemon, startDaemon, uploadBusybox } from "../tests/helpers/daemon.ts";
import { FixtureRootfs } from "../tests/helpers/jobs.ts";
import { testPki } from "../tests/helpers/pki.ts";
import { bindEcho, ECHO_PATH, echoServer, SIZED_PATH } from "./echo_server.ts";

const flag = (name: string, fallback: string) => {
  const at = Deno.args.indexOf(name);
  return at < 0 ? fallback : Deno.args[at + 1];
};
const sections = new Set(flag("--only", "unary,start,rate").split(","));
const rounds = Number(flag("--rounds", "25"));
const rateJobs = Number(flag("--jobs", "200"));
const pairs = Number(flag("--pairs", "3"));
const BURST = 20;
const REST_MS = 20;
const LIMITS = { memoryBytes: 64n << 20n, pids: 64n, cpuShares: 512n };

/** CPU time the whole machine has spent outside idle and iowait, from /proc/stat. */
function machineCpu(): { busyMs: number } {
  const ticks = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
    .map(Number);
  const idle = ticks[3] + ticks[4];
  // USER_HZ is 100 on Linux: a tick is 10 ms.
  return { busyMs: (ticks.reduce((sum, tick) => sum + tick, 0) - idle) * 10 };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const ms = (value: number) => `${value.toFixed(3)} ms`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** Prints each case's median and its ratio to `base`'s. */
function report(title: string, samples: Record<string, number[]>, bases: string[]): void {
  console.log(`\n${title}`);
  const baseMedians = bases.map((base) => median(samples[base]));
  for (const [name, values] of Object.entries(samples)) {
    const m = median(values);
    const ratios = baseMedians.map((b, i) => `${(m / b).toFixed(2)}x ${bases[i]}`).join(", ");
    console.log(`  ${name.padEnd(34)} ${ms(m).padStart(10)}   ${ratios}`);
  }
}

const pki = await testPki();
// ijrd's defaults, live restore among them (its jobs are spawned on the blocking pool).
const daemon = await startDaemon([], undefined, { liveRestore: true });
const echoProcesses: Deno.ChildProcess[] = [];
const closers: (() => void | Promise<void>)[] = [];
try {
  await uploadBusybox(daemon);
  const alice = connect({ config: daemon.configs.alice });
  const admin = connect({ config: daemon.configs.admin });
  closers.push(() => alice.close(), () => admin.close());

  // The bare transport: a grpc-js unary echo with IJR's mutual TLS, its server in this
  // process and in a process of its own (bench/echo_server.ts), as ijrd is.
  const aliceTls = {
    caPem: pki.ca.certPem,
    certPem: pki.alice.certPem,
    keyPem: pki.alice.keyPem,
  };
  const local = echoServer();
  const localPort = await bindEcho(local, {
    caPem: pki.ca.certPem,
    certPem: pki.server.certPem,
    keyPem: pki.server.keyPem,
  });
  // Gracefully, once its client has gone: forcing it while a connection is still open
  // crashed this process in Deno's HTTP/2 (an nghttp2 assertion on the GOAWAY).
  closers.push(() => new Promise<void>((resolve) => local.tryShutdown(() => resolve())));
  const remote = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      new URL("./echo_server.ts", import.meta.url).pathname,
      join(daemon.dir, "ca.crt"),
      join(daemon.dir, "server.crt"),
      join(daemon.dir, "server.key"),
    ],
    stdout: "piped",
  }).spawn();
  echoProcesses.push(remote);
  const line = await remote.stdout.getReader().read();
  const remotePort = Number(new TextDecoder().decode(line.value).trim());
  const bytes = (value: Buffer) => value;
  const payload = Buffer.alloc(64);
  const echoCall = (client: grpc.Client, path = ECHO_PATH, request = payload) => () =>
    new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest(
        path,
        bytes,
        bytes,
        request,
        new grpc.Metadata(),
        {},
        (error) => error ? reject(error) : resolve(),
      )
    );
  const localClient = new grpc.Client(`localhost:${localPort}`, clientCredentials(aliceTls));
  const remoteClient = new grpc.Client(`localhost:${remotePort}`, clientCredentials(aliceTls));
  // The same without channelz, as IJR's clients (lib/ctl/connect.ts) and ijrd run grpc-js:
  // the floors below use it, so that they are the least this transport can cost.
  const LEAN = { "grpc.enable_channelz": 0 };
  const leanClient = () =>
    new grpc.Client(`localhost:${remotePort}`, clientCredentials(aliceTls), LEAN);
  const remoteLean = leanClient();
  closers.push(() => localClient.close(), () => remoteClient.close(), () => remoteLean.close());

  // IJR's calls through grpc-js's client (without channelz), as ijrctl made them before it had a
  // client of its own: the same bytes to the same ijrd, side by side with IJR's client.
  const grpcJs = new grpc.Client(`localhost:${daemon.port}`, clientCredentials(aliceTls), LEAN);
  closers.push(() => grpcJs.close());
  const grpcJsGetJob = (jobId: string) => () =>
    new Promise<void>((resolve, reject) =>
      grpcJs.makeUnaryRequest(
        "/ijr.v1.JobService/GetJob",
        () => Buffer.from(toBinary(GetJobRequestSchema, create(GetJobRequestSchema, { jobId }))),
        bytes,
        null,
        new grpc.Metadata(),
        {},
        (error, answer) => {
          if (error) return reject(error);
          decodeMessage(GetJobResponseSchema, new Uint8Array(answer!));
          resolve();
        },
      )
    );

  if (sections.has("unary")) {
    // 100 ended jobs of alice's, as in the ListJobs figure.
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      const { job } = await alice.jobs.startJob({ rootfs: "bb", argv: ["/bin/true"] });
      await alice.jobs.waitJob({ jobId: job!.id });
      ids.push(job!.id);
    }
    const ended = ids[50];
    // The transport alone for an answer of ListJobs's size.
    const listSize = Buffer.alloc(4);
    listSize.writeUInt32BE(
      toBinary(ListJobsResponseSchema, await alice.jobs.listJobs({ includeFinished: true }))
        .length,
    );
    const cases: Record<string, () => Promise<unknown>> = {
      "echo, server in this process": echoCall(localClient),
      "echo, server in its own process": echoCall(remoteClient),
      "echo, own process, no channelz": echoCall(remoteLean),
      "same, ListJobs-sized answer": echoCall(remoteClient, SIZED_PATH, listSize),
      "GetJob (ended job)": () => alice.jobs.getJob({ jobId: ended }),
      "GetJob, grpc-js client": grpcJsGetJob(ended),
      "ListJobs (100 jobs)": async () => {
        const { jobs } = await alice.jobs.listJobs({ includeFinished: true });
        if (jobs.length !== 100) throw new Error(`ListJobs listed ${jobs.length} jobs`);
      },
      "StopJob (ended job)": () => alice.jobs.stopJob({ jobId: ended }),
      "ListRootfs": () => alice.rootfs.listRootfs({}),
      "WaitJob (ended job)": () => alice.jobs.waitJob({ jobId: ended }),
    };
    const names = Object.keys(cases);
    const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (const fn of Object.values(cases)) for (let i = 0; i < 50; i++) await fn(); // warm up
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length];
        for (let i = 0; i < BURST; i++) samples[name].push(await timed(cases[name]));
      }
    }
    report(
      `unary calls, ${rounds} rounds of ${BURST} calls per case, one connection per server`,
      samples,
      ["echo, server in its own process", "echo, own process, no channelz"],
    );
    // The same calls one at a time after a rest, as a person or a script makes them: on an idle
    // machine each call then pays for waking its processes and threads up.
    const rested: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let round = 0; round < rounds * 4; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length];
        await new Promise((resolve) => setTimeout(resolve, REST_MS));
        rested[name].push(await timed(cases[name]));
      }
    }
    report(
      `the same, one call at a time ${REST_MS} ms after the last, ${rounds * 4} calls per case`,
      rested,
      ["echo, server in its own process", "echo, own process, no channelz"],
    );
  }

  if (sections.has("start") || sections.has("rate")) {
    const busybox = await busyboxRootfsDir();
    const stateDir = await Deno.makeTempDir({ prefix: "ijr-bench-api-" });
    // The library as ijrd runs it: cgroups under a parent of its own (ijrd's test daemon has
    // another), each job in its owner's group with the group's caps, a user namespace from a
    // pool beside ijrd's, and the seccomp filter.
    const cgroups = await createCgroupController({
      parent: `ijr-bench-api-${Deno.pid}`,
      groupLingerMs: GROUP_LINGER_MS,
    });
    await cgroups.capAllJobs({ pids: 16384, memoryBytes: 8 * 2 ** 30 });
    await cgroups.capEveryGroup({ pids: 4096, memoryBytes: 2 * 2 ** 30 });
    const manager = await JobManager.open({
      stateDir,
      rootfs: new FixtureRootfs({ bb: busybox }),
      cgroups,
      userns: new UsernsPool(0x90000000, 16 * 65536),
      // ijrd's defaults: --max-output 100m (an inotify watch per job), --retain 1000 for 7d,
      // --max-jobs 1024, --max-jobs-per-user 256, --live-restore.
      maxOutputBytes: 100 * 2 ** 20,
      retain: { count: 1000, forMs: 7 * 86_400_000 },
      maxJobs: 1024,
      maxJobsPerUser: 256,
      liveRestore: true,
    });
    closers.push(async () => {
      await manager.shutdown();
      await cgroups.removeEmptyParents();
      await Deno.remove(stateDir, { recursive: true });
    });
    const libraryJob = async () => {
      const job = await manager.start({
        owner: "alice",
        rootfs: "bb",
        argv: ["/bin/true"],
        limits: {
          memoryBytes: Number(LIMITS.memoryBytes),
          pids: LIMITS.pids,
          cpuShares: LIMITS.cpuShares,
        },
      });
      const final = await manager.wait(job.id);
      if (final.state !== "exited") throw new Error(`library job ended ${final.state}`);
    };
    const apiJob = (client: Connection) => async () => {
      const { job } = await client.jobs.startJob({
        rootfs: "bb",
        argv: ["/bin/true"],
        limits: LIMITS,
      });
      const { job: final } = await client.jobs.waitJob({ jobId: job!.id });
      if (final!.state !== JobState.EXITED) throw new Error(`API job ended ${final!.state}`);
    };
    // The same in one call: RunJob answers with the started job, then with the ended one.
    const runJob = (client: Connection) => async () => {
      let final: Job | undefined;
      for await (
        const { ended } of client.jobs.runJob({
          rootfs: "bb",
          argv: ["/bin/true"],
          limits: LIMITS,
        })
      ) {
        final = ended ?? final;
      }
      if (final?.state !== JobState.EXITED) throw new Error(`RunJob's job ended ${final?.state}`);
    };
    // The same RunJob through grpc-js's client (see grpcJs above); one channel each.
    const runJobRequest = Buffer.from(toBinary(
      StartJobRequestSchema,
      create(StartJobRequestSchema, { rootfs: "bb", argv: ["/bin/true"], limits: LIMITS }),
    ));
    const grpcJsClients = [
      grpcJs,
      ...[1, 2, 3].map(() =>
        new grpc.Client(`localhost:${daemon.port}`, clientCredentials(aliceTls), LEAN)
      ),
    ];
    closers.push(() => grpcJsClients.slice(1).forEach((client) => client.close()));
    const grpcJsRunJob = (client: grpc.Client) => () =>
      new Promise<void>((resolve, reject) => {
        let final: Job | undefined;
        const call = client.makeServerStreamRequest(
          "/ijr.v1.JobService/RunJob",
          () => runJobRequest,
          bytes,
          null,
          new grpc.Metadata(),
          {},
        );
        call.on("data", (answer: Buffer) => {
          final = decodeMessage(RunJobResponseSchema, new Uint8Array(answer)).ended ?? final;
        });
        call.on("error", reject);
        call.on("end", () =>
          final?.state === JobState.EXITED
            ? resolve()
            : reject(new Error(`RunJob's job ended ${final?.state}`)));
      });

    if (sections.has("start")) {
      const cases: Record<string, () => Promise<unknown>> = {
        "bwrap --unshare-all": async () => {
          const out = await new Deno.Command("bwrap", {
            args: [
              "--unshare-all",
              "--ro-bind",
              busybox,
              "/",
              "--proc",
              "/proc",
              "--dev",
              "/dev",
              "/bin/true",
            ],
            stdout: "null",
            stderr: "null",
          }).output();
          if (!out.success) throw new Error("bwrap failed");
        },
        "library (JobManager, cgroups)": libraryJob,
        // What any API over this transport pays at least: the library's start-to-exit and two
        // echo calls to a server in its own process (a start's and a wait's round trips).
        "floor: library + 2 echo calls": async () => {
          const echo = echoCall(remoteLean);
          await echo();
          await libraryJob();
          await echo();
        },
        "API: StartJob + WaitJob": apiJob(alice),
        // The least any one-call API pays: the library's start-to-exit and one echo call.
        "floor: library + 1 echo call": async () => {
          await echoCall(remoteLean)();
          await libraryJob();
        },
        "API: RunJob (one call)": runJob(alice),
        "RunJob, grpc-js client": grpcJsRunJob(grpcJs),
      };
      const samples: Record<string, number[]> = Object.fromEntries(
        Object.keys(cases).map((n) => [n, []]),
      );
      for (const fn of Object.values(cases)) for (let i = 0; i < 5; i++) await fn();
      const startRounds = rounds * 2;
      const names = Object.keys(cases);
      for (let round = 0; round < startRounds; round++) {
        for (let k = 0; k < names.length; k++) {
          // Every start begins from the same rest: a job's first cgroup v1 join waits for an
          // RCU grace period unless another join happened within about one (bench/README.md),
          // so back-to-back starts would favour whichever case follows a job.
          await new Promise((resolve) => setTimeout(resolve, 50));
          const name = names[(round + k) % names.length];
          samples[name].push(await timed(cases[name]));
        }
      }
      report(
        `start-to-exit of /bin/true with cgroup limits, ${startRounds} rounds, rotating order, ` +
          "50 ms apart",
        samples,
        [
          "bwrap --unshare-all",
          "library (JobManager, cgroups)",
          "floor: library + 2 echo calls",
          "floor: library + 1 echo call",
        ],
      );
    }

    if (sections.has("rate")) {
      const clients = [alice, ...[1, 2, 3].map(() => connect({ config: daemon.configs.alice }))];
      closers.push(() => clients.slice(1).forEach((client) => client.close()));
      // Both vCPUs are nearly saturated in every case (85-93% busy), so a case's rate is set by
      // the CPU the whole machine spends per job: measured too, from /proc/stat, as it varies
      // less from round to round than the rate does.
      const busyMsPerJob: Record<string, number[]> = {};
      const rate = async (name: string, runs: (() => Promise<void>)[]) => {
        let left = rateJobs;
        const before = machineCpu();
        const started = performance.now();
        await Promise.all(runs.map(async (run) => {
          while (left > 0) {
            left--;
            await run();
          }
        }));
        const seconds = (performance.now() - started) / 1000;
        const after = machineCpu();
        (busyMsPerJob[name] ??= []).push((after.busyMs - before.busyMs) / rateJobs);
        return rateJobs / seconds;
      };
      // The floor of any API over this transport: each library job between two echo calls,
      // over 4 connections of their own.
      const echoClients = [1, 2, 3, 4].map(leanClient);
      closers.push(() => echoClients.forEach((client) => client.close()));
      const floorJob = (client: grpc.Client) => async () => {
        const echo = echoCall(client);
        await echo();
        await libraryJob();
        await echo();
      };
      const library: number[] = [];
      const floor: number[] = [];
      const api: number[] = [];
      const oneCall: number[] = [];
      const grpcJsCall: number[] = [];
      for (let pair = 0; pair < pairs; pair++) {
        library.push(await rate("library", [libraryJob, libraryJob, libraryJob, libraryJob]));
        floor.push(await rate("floor", echoClients.map(floorJob)));
        api.push(await rate("API", clients.map(apiJob)));
        oneCall.push(await rate("RunJob", clients.map(runJob)));
        grpcJsCall.push(await rate("RunJob, grpc-js client", grpcJsClients.map(grpcJsRunJob)));
      }
      const rates = (values: number[]) => values.map((r) => r.toFixed(0)).join(" / ");
      const ratios = (values: number[], bases: number[]) =>
        `${values.map((r, i) => (r / bases[i]).toFixed(2)).join(" / ")}; medians ${
          (median(values) / median(bases)).toFixed(2)
        }`;
      console.log(
        `\njobs per second, ${rateJobs} jobs of /bin/true with cgroup limits, 4 at a time`,
      );
      console.log(`  library, concurrency 4:                ${rates(library)}`);
      console.log(`  floor: library + 2 echo calls, 4 conn: ${rates(floor)}`);
      console.log(`  API, 4 connected clients:              ${rates(api)}`);
      console.log(`  API, RunJob (one call), 4 clients:     ${rates(oneCall)}`);
      console.log(`  the same, grpc-js's client:            ${rates(grpcJsCall)}`);
      console.log(`  API / library, each round:  ${ratios(api, library)}`);
      console.log(`  API / floor, each round:    ${ratios(api, floor)}`);
      console.log(`  RunJob / library:           ${ratios(oneCall, library)}`);
      console.log(`  RunJob, grpc-js / library:  ${ratios(grpcJsCall, library)}`);
      console.log("  CPU of the whole machine per job (ms, each round):");
      for (const [name, values] of Object.entries(busyMsPerJob)) {
        console.log(
          `    ${name.padEnd(23)} ${values.map((value) => value.toFixed(2)).join(" / ")}`,
        );
      }
    }
  }
} finally {
  for (const close of closers.reverse()) await close();
  for (const child of echoProcesses) {
    try {
      child.kill();
    } catch { /* it has ended already */ }
    const status = await child.status;
    // Ended by a signal other than ours: it crashed, and the echo's figures are suspect.
    if (status.signal !== "SIGTERM") console.error(`the echo server ended with ${status.code}`);
  }
  await cleanupDaemon(daemon);
}
