/**
 * `ijrctl job start|stop|list|status|output|delete|wait`.
 * @module
 */

import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { JobSchema, type StartJobRequestSchema } from "../gen/ijr/v1/job_pb.ts";
import { RpcError } from "../rpc/client/mod.ts";
import type { ConfigOverrides } from "../config/mod.ts";
import { parseByteSize, parseDuration } from "../units/mod.ts";
import { type Connection, withConnection } from "./connect.ts";
import { exitCodeOf, jobDetails, jobTable, outcome, printJson } from "./format.ts";
import { AttachedJob } from "./attach.ts";
import { notice } from "./notice.ts";
import { copyJobOutput, writeAllToStdout } from "./output_stream.ts";
import { DEFAULT_RECONNECT_MS, ReconnectGaveUp, Reconnector } from "./reconnect.ts";
import { writeStdout } from "./stdout.ts";
import type { Action } from "./program.ts";
import { splitShellWords } from "./shell_words.ts";

/** A bad flag value: printed as usage (exit 2), never sent to the server. */
class UsageError extends Error {}

function usage(name: string, error: unknown): number {
  if (!(error instanceof UsageError)) throw error;
  console.error(`ijrctl ${name}: ${(error as Error).message}`);
  return 2;
}

/** Parses "DEV:N" (device path, then a positive count after the last colon). */
export function parseDeviceIops(flag: string, spec: string): { device: string; iops: bigint } {
  const colon = spec.lastIndexOf(":");
  const device = spec.slice(0, colon);
  const count = spec.slice(colon + 1);
  if (colon <= 0 || !/^[1-9][0-9]*$/.test(count) || !device.startsWith("/")) {
    throw new UsageError(
      `${flag} "${spec}" must be <device-path>:<number>, e.g. /dev/sda:100`,
    );
  }
  return { device, iops: BigInt(count) };
}

/** Runs a flag parser, turning its error into a usage error that names the flag. */
function flagValue<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
}

function argvOf(options: Record<string, unknown>, args: string[]): string[] {
  const command = options.command as string | undefined;
  if (command !== undefined && args.length > 0) {
    throw new UsageError("give the command either with --command or after --, not both");
  }
  const argv = command !== undefined
    ? flagValue("--command", () => splitShellWords(command))
    : args;
  if (argv.length === 0) {
    throw new UsageError('no command: use --command "CMD ARGS" or -- CMD ARGS...');
  }
  return argv;
}

function jobIdOf(options: Record<string, unknown>, args: string[]): string {
  const fromFlag = options.job as string | undefined;
  if (fromFlag && args[0] && fromFlag !== args[0]) {
    throw new UsageError(`two different job IDs given: --job ${fromFlag} and ${args[0]}`);
  }
  const id = fromFlag ?? args[0];
  if (!id) throw new UsageError("no job ID: use --job ID or give it as the argument");
  return id;
}

function startRequest(options: Record<string, unknown>, args: string[]) {
  const env = (options.env as string[] | undefined) ?? [];
  for (const entry of env) {
    if (!/^[^=]+=/.test(entry)) throw new UsageError(`--env "${entry}" must be KEY=VALUE`);
  }
  const memory = options.memory as string | undefined;
  const timeout = options.timeout as string | undefined;
  const maxOutput = options.maxOutput as string | undefined;
  const memoryBytes = memory === undefined
    ? 0n
    : BigInt(flagValue("--memory", () => parseByteSize(memory)));
  const maxOutputBytes = maxOutput === undefined
    ? 0n
    : BigInt(flagValue("--max-output", () => parseByteSize(maxOutput)));
  const timeoutMs = timeout === undefined
    ? undefined
    : flagValue("--timeout", () => parseDuration(timeout));
  return {
    rootfs: String(options.rootfs),
    argv: argvOf(options, args),
    env,
    workdir: (options.workdir as string | undefined) ?? "",
    limits: {
      cpuShares: options.cpu ? BigInt(options.cpu as string) : 0n,
      memoryBytes,
      readIops: ((options.diskReadIops as string[] | undefined) ?? []).map((s) =>
        parseDeviceIops("--disk-read-iops", s)
      ),
      writeIops: ((options.diskWriteIops as string[] | undefined) ?? []).map((s) =>
        parseDeviceIops("--disk-write-iops", s)
      ),
      pids: options.pids ? BigInt(options.pids as string) : 0n,
      maxOutputBytes,
    },
    timeout: timeoutMs === undefined ? undefined : durationFromMs(timeoutMs),
  };
}

/** The longest --grace: the API's bound on a stop's grace period (1 hour). */
const MAX_GRACE_MS = 3_600_000;

/** How an attached command follows its job, from its flags. */
interface FollowFlags {
  readonly graceMs?: number;
  readonly reconnectForMs: number;
}

/**
 * --grace and --reconnect-for. `attached` says whether the command follows a job at all;
 * `stopping` whether a signal stops it: flags that would change nothing are refused, naming
 * the flag they need.
 */
function followFlags(
  options: Record<string, unknown>,
  { attached, stopping, needs }: { attached: boolean; stopping: boolean; needs: string },
): FollowFlags {
  const given = (flag: string, key: string, when: boolean) => {
    if (options[key] !== undefined && !when) throw new UsageError(`${flag} needs ${needs}`);
    return options[key] as string | undefined;
  };
  const grace = given("--grace", "grace", attached && stopping);
  const reconnectFor = given("--reconnect-for", "reconnectFor", attached);
  return {
    graceMs: grace === undefined
      ? undefined
      : flagValue("--grace", () => parseDuration(grace, MAX_GRACE_MS)),
    reconnectForMs: reconnectFor === undefined
      ? DEFAULT_RECONNECT_MS
      : flagValue("--reconnect-for", () => parseDuration(reconnectFor)),
  };
}

/** `ijrctl job start --rootfs N (--command "CMD" | -- CMD...) [limits] [--output ...]` */
export const jobStart: Action = async (options, args) => {
  let request;
  let follow: FollowFlags;
  const attached = Boolean(options.output);
  // commander sets stopOnSignal to false for --no-stop-on-signal, true otherwise.
  const stopping = options.stopOnSignal !== false;
  try {
    request = startRequest(options, args);
    follow = followFlags(options, { attached, stopping, needs: "--output" });
    if (!attached && !stopping) throw new UsageError("--no-stop-on-signal needs --output");
    if (!attached && options.rm) throw new UsageError("--rm needs --output");
    if (attached && options.wait) {
      throw new UsageError("--wait and --output do not go together: --output waits too");
    }
  } catch (error) {
    return usage("job start", error);
  }
  if (options.wait) {
    return await withConnection(
      "job start",
      options as ConfigOverrides,
      ({ jobs }) => runAndWait(jobs, request),
    );
  }
  return await withConnection("job start", options as ConfigOverrides, async (connection) => {
    // Listening before StartJob is sent: a signal on its way in still stops the job.
    const job = attached
      ? new AttachedJob({
        connection,
        onSignal: stopping ? "stop" : "detach",
        removeWhenDone: Boolean(options.rm),
        ...follow,
      })
      : undefined;
    try {
      const { job: started } = await connection.jobs.startJob(request);
      console.log(started!.id);
      if (!job) return 0;
      job.attach(started!.id);
      return await job.follow();
    } finally {
      job?.close();
    }
  });
};

/**
 * `job start --wait`: one RunJob call, which answers with the started job, then with the
 * ended one. Prints the ID, then how the job ended, as `job start` and `job wait` do, and
 * returns the job's exit status. Should the call end between the two, the job may still run:
 * the error names it and the command that waits for it again.
 */
async function runAndWait(
  jobs: Connection["jobs"],
  request: MessageInitShape<typeof StartJobRequestSchema>,
): Promise<number> {
  let started: string | undefined;
  try {
    for await (const { started: job, ended } of jobs.runJob(request)) {
      if (job) {
        started = job.id;
        console.log(job.id);
      } else if (ended) {
        console.log(`job ${ended.id}: ${outcome(ended)}`);
        return exitCodeOf(ended);
      }
    }
  } catch (error) {
    if (started === undefined || !(error instanceof RpcError)) throw error;
    throw new RpcError(
      error.code,
      `${error.message}; job ${started} had started: \`ijrctl job wait ${started}\` ` +
        "waits for it again",
    );
  }
  throw new Error(`ijrd ended the call without ${started ? "the job's end" : "starting a job"}`);
}

/** `ijrctl job stop (--job ID | ID) [--grace DURATION]` */
export const jobStop: Action = async (options, args) => {
  let jobId: string;
  let graceMs: number | undefined;
  try {
    jobId = jobIdOf(options, args);
    if (options.grace !== undefined) {
      graceMs = flagValue("--grace", () => parseDuration(String(options.grace)));
    }
  } catch (error) {
    return usage("job stop", error);
  }
  return await withConnection("job stop", options as ConfigOverrides, async ({ jobs }) => {
    const { job } = await jobs.stopJob({
      jobId,
      gracePeriod: graceMs === undefined ? undefined : durationFromMs(graceMs),
    });
    console.log(`job ${job!.id}: ${outcome(job!)}`);
    return 0;
  });
};

/** `ijrctl job list [--all] [--json]` */
export const jobList: Action = (options) =>
  withConnection("job list", options as ConfigOverrides, async ({ jobs }) => {
    const { jobs: list } = await jobs.listJobs(
      { includeFinished: Boolean(options.all) },
      { timeoutMs: 30_000 },
    );
    if (options.json) printJson(JobSchema, list);
    else writeStdout(jobTable(list));
    return 0;
  });

/** `ijrctl job status (--job ID | ID) [--json]` */
export const jobStatus: Action = async (options, args) => {
  let jobId: string;
  try {
    jobId = jobIdOf(options, args);
  } catch (error) {
    return usage("job status", error);
  }
  return await withConnection("job status", options as ConfigOverrides, async ({ jobs }) => {
    const { job } = await jobs.getJob({ jobId }, { timeoutMs: 30_000 });
    if (options.json) printJson(JobSchema, job!);
    else writeStdout(jobDetails(job!));
    return 0;
  });
};

/** `ijrctl job output (--job ID | ID) [--stop-on-signal [--grace D]] [--reconnect-for D]` */
export const jobOutput: Action = async (options, args) => {
  let jobId: string;
  let follow: FollowFlags;
  const stopping = Boolean(options.stopOnSignal);
  try {
    jobId = jobIdOf(options, args);
    follow = followFlags(options, { attached: true, stopping, needs: "--stop-on-signal" });
  } catch (error) {
    return usage("job output", error);
  }
  return await withConnection("job output", options as ConfigOverrides, async (connection) => {
    if (stopping) {
      // Attached: ijrctl stands in for the job, and exits with its status.
      const job = new AttachedJob({
        connection,
        onSignal: "stop",
        removeWhenDone: false,
        ...follow,
      });
      try {
        job.attach(jobId);
        return await job.follow();
      } finally {
        job.close();
      }
    }
    // A plain follower: signals end ijrctl as usual, the job is left alone.
    const reconnector = new Reconnector({
      server: connection.server,
      reconnectForMs: follow.reconnectForMs,
      report: notice,
    });
    try {
      await copyJobOutput({
        jobs: connection.jobs,
        jobId,
        reconnector,
        write: writeAllToStdout,
        report: notice,
      });
    } catch (error) {
      if (!(error instanceof ReconnectGaveUp)) throw error;
      throw new Error(`${error.message}; job ${jobId} is not affected`);
    }
    return 0;
  });
};

/** `ijrctl job delete (--job ID | ID)` */
export const jobDelete: Action = async (options, args) => {
  let jobId: string;
  try {
    jobId = jobIdOf(options, args);
  } catch (error) {
    return usage("job delete", error);
  }
  return await withConnection("job delete", options as ConfigOverrides, async ({ jobs }) => {
    await jobs.deleteJob({ jobId });
    console.log(`deleted job ${jobId}`);
    return 0;
  });
};

/**
 * `ijrctl job wait (--job ID | ID) [--json]`: one WaitJob call, which returns when the job
 * has ended. Exits with the job's status the way `job start --output` does.
 */
export const jobWait: Action = async (options, args) => {
  let jobId: string;
  try {
    jobId = jobIdOf(options, args);
  } catch (error) {
    return usage("job wait", error);
  }
  return await withConnection("job wait", options as ConfigOverrides, async ({ jobs }) => {
    const { job } = await jobs.waitJob({ jobId });
    if (options.json) printJson(JobSchema, job!);
    else console.log(`job ${job!.id}: ${outcome(job!)}`);
    return exitCodeOf(job!);
  });
};
