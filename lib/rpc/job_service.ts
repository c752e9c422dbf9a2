/**
 * ijr.v1.JobService: authorization and translation between the API and the job engine.
 * Users reach only their own jobs; another user's job answers exactly like a missing one.
 * @module
 */

import {
  type Duration,
  durationFromMs,
  type Timestamp,
  timestampFromDate,
} from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type JobSchema,
  JobService,
  JobState,
  type ResourceLimits,
  type ResourceLimitsSchema,
} from "../gen/ijr/v1/job_pb.ts";
import { IjrError, invalidArgument, notFound } from "../errors/mod.ts";
import type { ServiceHandlers } from "./adapter.ts";
import { canAccessJob } from "./authz.ts";
import { callerOf } from "./caller.ts";
import type { JobStatus, StartJobRequest } from "../job/types.ts";

/** What JobService needs from the job engine (lib/job's JobManager provides it). */
export interface JobBackend {
  start(request: StartJobRequest): Promise<JobStatus>;
  stop(id: string, options: { graceMs?: number }): Promise<JobStatus>;
  get(id: string): JobStatus | undefined;
  list(options: { includeFinished: boolean }): JobStatus[];
  output(id: string, options: { signal?: AbortSignal }): AsyncIterable<Uint8Array>;
}

const STATES: Record<JobStatus["state"], JobState> = {
  running: JobState.RUNNING,
  exited: JobState.EXITED,
  killed: JobState.KILLED,
  stopped: JobState.STOPPED,
  failed: JobState.FAILED,
  lost: JobState.LOST,
};

function nanosToDuration(nanos: bigint): Duration {
  return {
    $typeName: "google.protobuf.Duration",
    seconds: nanos / 1_000_000_000n,
    nanos: Number(nanos % 1_000_000_000n),
  };
}

function timestamp(date: Date | undefined): Timestamp | undefined {
  return date ? timestampFromDate(date) : undefined;
}

/** The API's view of a job. */
export function jobToProto(job: JobStatus): MessageInitShape<typeof JobSchema> {
  const limits: MessageInitShape<typeof ResourceLimitsSchema> = {
    cpuShares: BigInt(job.limits.cpuShares),
    memoryBytes: BigInt(job.limits.memoryBytes ?? 0),
    readIops: job.limits.readIops.map((l) => ({ device: l.device, iops: BigInt(l.iops) })),
    writeIops: job.limits.writeIops.map((l) => ({ device: l.device, iops: BigInt(l.iops) })),
    pids: BigInt(job.limits.pids),
  };
  return {
    id: job.id,
    owner: job.owner,
    rootfs: job.rootfs,
    argv: [...job.argv],
    env: [...job.env],
    workdir: job.workdir,
    limits,
    timeout: job.timeoutMs === undefined ? undefined : durationFromMs(job.timeoutMs),
    state: STATES[job.state],
    exitCode: job.exitCode ?? 0,
    signal: job.signal ?? 0,
    oomKilled: job.oomKilled,
    startedAt: timestamp(job.startedAt),
    endedAt: timestamp(job.endedAt),
    usage: {
      cpuTime: job.cpuNanos === undefined ? undefined : nanosToDuration(job.cpuNanos),
      memoryPeakBytes: BigInt(job.memoryPeakBytes ?? 0),
    },
    message: job.message ?? "",
    pid: job.pid ?? 0,
  };
}

function durationToMs(duration: Duration | undefined): number | undefined {
  if (!duration) return undefined;
  const ms = Number(duration.seconds) * 1000 + duration.nanos / 1e6;
  if (ms < 0) throw invalidArgument("durations must not be negative");
  return Math.round(ms);
}

function toNumber(field: string, value: bigint): number | undefined {
  if (value === 0n) return undefined;
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArgument(`${field} is too large`);
  return Number(value);
}

function startRequestFromProto(
  owner: string,
  request: {
    rootfs: string;
    argv: string[];
    env: string[];
    workdir: string;
    limits?: ResourceLimits;
    timeout?: Duration;
  },
): StartJobRequest {
  if (request.argv.length === 0 || request.argv[0] === "") {
    throw invalidArgument("argv must name a command");
  }
  const limits = request.limits;
  const devices = (list: { device: string; iops: bigint }[] | undefined, field: string) =>
    (list ?? []).map((l) => ({ device: l.device, iops: toNumber(field, l.iops) ?? 0 }));
  return {
    owner,
    rootfs: request.rootfs,
    argv: request.argv,
    env: request.env,
    workdir: request.workdir || undefined,
    limits: {
      cpuShares: toNumber("cpu_shares", limits?.cpuShares ?? 0n),
      memoryBytes: toNumber("memory_bytes", limits?.memoryBytes ?? 0n),
      readIops: devices(limits?.readIops, "read_iops"),
      writeIops: devices(limits?.writeIops, "write_iops"),
      pids: toNumber("pids", limits?.pids ?? 0n),
    },
    timeoutMs: durationToMs(request.timeout),
  };
}

/** The JobService handlers over a job engine. */
export function jobServiceHandlers(
  backend: JobBackend,
  options: { shutdown?: AbortSignal } = {},
): ServiceHandlers<typeof JobService.method> {
  const visibleJob = (context: Parameters<typeof callerOf>[0], id: string): JobStatus => {
    const caller = callerOf(context);
    const job = id ? backend.get(id) : undefined;
    // The same answer for "missing" and "someone else's": IDs cannot be probed.
    if (!job || !canAccessJob(caller, job.owner)) throw notFound(`job ${id} not found`);
    return job;
  };
  return {
    async startJob(request, context) {
      const caller = callerOf(context);
      const job = await backend.start(startRequestFromProto(caller.name, request));
      return { job: jobToProto(job) };
    },
    async stopJob(request, context) {
      visibleJob(context, request.jobId);
      const graceMs = durationToMs(request.gracePeriod);
      return { job: jobToProto(await backend.stop(request.jobId, { graceMs })) };
    },
    getJob(request, context) {
      return Promise.resolve({ job: jobToProto(visibleJob(context, request.jobId)) });
    },
    listJobs(request, context) {
      const caller = callerOf(context);
      const jobs = backend.list({ includeFinished: request.includeFinished })
        .filter((job) => canAccessJob(caller, job.owner));
      return Promise.resolve({ jobs: jobs.map(jobToProto) });
    },
    async *streamOutput(request, context) {
      visibleJob(context, request.jobId);
      const signal = options.shutdown
        ? AbortSignal.any([context.signal, options.shutdown])
        : context.signal;
      try {
        for await (const data of backend.output(request.jobId, { signal })) {
          yield { data };
        }
      } catch (error) {
        // The client sees why its stream ended early, instead of an internal error.
        if (options.shutdown?.aborted) throw new IjrError("UNAVAILABLE", "ijrd is shutting down");
        throw error;
      }
    },
  };
}
