/**
 * ijr.v1.JobService: checks, authorization and translation between the API and the job
 * engine. Every field of every request is checked before the engine is asked anything
 * (INVALID_ARGUMENT naming the field); users reach only their own jobs, and another user's
 * job answers exactly like a missing one.
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
  type DeviceIopsLimit,
  GetJobResponseSchema,
  type JobSchema,
  JobService,
  JobState,
  type ResourceLimits,
  type ResourceLimitsSchema,
  RunJobResponseSchema,
  StopJobResponseSchema,
  WaitJobResponseSchema,
} from "../../gen/ijr/v1/job_pb.ts";
import { IjrError, notFound } from "../../errors/mod.ts";
import type { ServiceHandlers } from "../transport/mod.ts";
import { canAccessJob } from "./authz.ts";
import { callerOf } from "./caller.ts";
import {
  type JobStatus,
  type JobSummary,
  MAX_GRACE_MS,
  MAX_TIMEOUT_MS,
  type StartJobRequest,
  validateStartFields,
} from "../../job/mod.ts";
import { shortCommandLine } from "../../units/mod.ts";
import {
  checkJobId,
  type DurationRange,
  durationToMs,
  optionalUint64,
  safeNumber,
} from "./request_fields.ts";
import { encodedJobField, encodedJobList, encodedJobResponse } from "./job_encodings.ts";
import type { WatchLimit } from "./watch_limit.ts";

/** What JobService needs from the job engine (lib/job's JobManager provides it). */
export interface JobBackend {
  start(request: StartJobRequest): Promise<JobStatus>;
  stop(id: string, options: { graceMs?: number }): Promise<JobStatus>;
  /** The whole status, argv and env included. */
  get(id: string): JobStatus | undefined;
  /** What a list shows; cheap, used for every authorization check. */
  summary(id: string): JobSummary | undefined;
  /**
   * Summaries, oldest first. An ended job's summary is never changed in place (a changed
   * summary is a new object): ListJobs keeps its encoding against the object (job_encodings.ts).
   */
  list(options: { includeFinished: boolean }): JobSummary[];
  /**
   * The output from byte `offset` on, followed until the job ends; OUT_OF_RANGE naming the
   * output's length when the job ended with less.
   */
  output(id: string, options: { signal?: AbortSignal; offset: number }): AsyncIterable<Uint8Array>;
  delete(id: string): Promise<void>;
  /** The final status once the job has ended (at once when it has); NOT_FOUND for none. */
  wait(id: string): Promise<JobStatus>;
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

/**
 * A job's timeout as a Duration. Records written before the API checked timeouts may hold one
 * that no Duration can carry (2^63 s in milliseconds): it is left out rather than making
 * every listing of the job fail to serialize.
 */
function timeoutToProto(timeoutMs: number | undefined): Duration | undefined {
  if (timeoutMs === undefined || !Number.isSafeInteger(timeoutMs) || timeoutMs < 0) {
    return undefined;
  }
  return durationFromMs(timeoutMs);
}

/** Longest command line in a Job message (the summary's length). */
const COMMAND_CHARS = 200;

/**
 * The API's view of a job: with argv and env from a whole status, without them (and with
 * its command line) from a summary.
 */
export function jobToProto(job: JobStatus | JobSummary): MessageInitShape<typeof JobSchema> {
  const limits: MessageInitShape<typeof ResourceLimitsSchema> = {
    cpuShares: BigInt(job.limits.cpuShares),
    memoryBytes: BigInt(job.limits.memoryBytes ?? 0),
    readIops: job.limits.readIops.map((l) => ({ device: l.device, iops: BigInt(l.iops) })),
    writeIops: job.limits.writeIops.map((l) => ({ device: l.device, iops: BigInt(l.iops) })),
    pids: BigInt(job.limits.pids),
    maxOutputBytes: BigInt(job.maxOutputBytes ?? 0),
  };
  const whole = "argv" in job;
  return {
    id: job.id,
    owner: job.owner,
    rootfs: job.rootfs,
    argv: whole ? [...job.argv] : [],
    env: whole ? [...job.env] : [],
    command: whole ? shortCommandLine(job.argv, COMMAND_CHARS) : job.command,
    workdir: job.workdir,
    limits,
    timeout: timeoutToProto(job.timeoutMs),
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
    outputLimitExceeded: job.outputLimitExceeded ?? false,
    isolation: job.isolation
      ? {
        userNamespace: job.isolation.userNamespace !== undefined,
        hostUid: job.isolation.userNamespace?.hostUid ?? 0,
        hostGid: job.isolation.userNamespace?.hostGid ?? 0,
        idCount: job.isolation.userNamespace?.size ?? 0,
        seccomp: job.isolation.seccomp,
      }
      : undefined,
  };
}

/** The timeout's range, as the API states it. */
const TIMEOUT_RANGE: DurationRange = {
  minMs: 1,
  maxMs: MAX_TIMEOUT_MS,
  text: `from 0.001s to ${MAX_TIMEOUT_MS / 1000}s (30 days)`,
};

/** The grace period's range, as the API states it. */
const GRACE_RANGE: DurationRange = {
  minMs: 0,
  maxMs: MAX_GRACE_MS,
  text: `from 0s to ${MAX_GRACE_MS / 1000}s (1 hour)`,
};

/**
 * A StartJobRequest in the engine's terms, every field checked (validateStartFields, then
 * the timeout): uint64 limits stay bigints so that the range checks see the exact value, and
 * zeros become "the default".
 */
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
  const limits = request.limits;
  const devices = (list: DeviceIopsLimit[] | undefined) =>
    (list ?? []).map((l) => ({ device: l.device, iops: l.iops }));
  const fields: StartJobRequest = {
    owner,
    rootfs: request.rootfs,
    argv: request.argv,
    env: request.env,
    workdir: request.workdir === "" ? undefined : request.workdir,
    limits: {
      cpuShares: optionalUint64(limits?.cpuShares ?? 0n),
      memoryBytes: optionalUint64(limits?.memoryBytes ?? 0n),
      readIops: devices(limits?.readIops),
      writeIops: devices(limits?.writeIops),
      pids: optionalUint64(limits?.pids ?? 0n),
    },
    maxOutputBytes: optionalUint64(limits?.maxOutputBytes ?? 0n),
  };
  validateStartFields(fields);
  return { ...fields, timeoutMs: durationToMs("timeout", request.timeout, TIMEOUT_RANGE) };
}

/** The result of synchronous work as a promise: a throw becomes a rejection. */
function settled<T>(work: () => T): Promise<T> {
  return new Promise((resolve) => resolve(work()));
}

/**
 * `work`'s result, unless the call is over first (the client cancelled, its deadline passed:
 * nobody is left to answer, and the job goes on) or ijrd is shutting down (UNAVAILABLE, so
 * that a wait never holds the shutdown up).
 */
function untilAborted<T>(work: Promise<T>, call: AbortSignal, shutdown?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onCallOver = () => settle(() => reject(call.reason));
    const onShutdown = () =>
      settle(() => reject(new IjrError("UNAVAILABLE", "ijrd is shutting down")));
    const settle = (finish: () => void) => {
      call.removeEventListener("abort", onCallOver);
      shutdown?.removeEventListener("abort", onShutdown);
      finish();
    };
    if (call.aborted) return onCallOver();
    if (shutdown?.aborted) return onShutdown();
    call.addEventListener("abort", onCallOver);
    shutdown?.addEventListener("abort", onShutdown);
    work.then((value) => settle(() => resolve(value)), (error) => settle(() => reject(error)));
  });
}

/** Options of {@link jobServiceHandlers}. */
export interface JobServiceOptions {
  /** Aborted when ijrd shuts down: open waits and streams end UNAVAILABLE. */
  readonly shutdown?: AbortSignal;
  /** The bound on each user's open WaitJob, RunJob and StreamOutput calls; none if absent. */
  readonly watches?: WatchLimit;
}

const NOTHING_TO_END = () => {};

/** The JobService handlers over a job engine. */
export function jobServiceHandlers(
  backend: JobBackend,
  options: JobServiceOptions = {},
): ServiceHandlers<typeof JobService.method> {
  // Counted once the request is known good and the job the caller's: a refused watch answers
  // after INVALID_ARGUMENT and NOT_FOUND, never instead of them.
  const watch = (user: string) => options.watches?.enter(user) ?? NOTHING_TO_END;
  const visibleJob = (context: Parameters<typeof callerOf>[0], id: string): JobSummary => {
    const caller = callerOf(context);
    const job = backend.summary(id);
    // The same answer for "missing" and "someone else's": IDs cannot be probed.
    if (!job || !canAccessJob(caller, job.owner)) throw notFound(`job ${id} not found`);
    return job;
  };
  return {
    async startJob(request, context) {
      const caller = callerOf(context);
      // Every field is checked here, before the engine creates anything.
      const job = await backend.start(startRequestFromProto(caller.name, request));
      // A message, not kept bytes: the job runs (nothing to keep), and the request log takes
      // the new job's ID from the response.
      return { job: jobToProto(job) };
    },
    async stopJob(request, context) {
      callerOf(context);
      checkJobId("job_id", request.jobId);
      const graceMs = durationToMs("grace_period", request.gracePeriod, GRACE_RANGE);
      visibleJob(context, request.jobId);
      const stopped = await backend.stop(request.jobId, { graceMs });
      return encodedJobResponse(StopJobResponseSchema, stopped, jobToProto);
    },
    getJob(request, context) {
      return settled(() => {
        callerOf(context);
        checkJobId("job_id", request.jobId);
        visibleJob(context, request.jobId);
        const job = backend.get(request.jobId);
        // Deleted (or retired) between the two looks: gone, like any missing job.
        if (!job) throw notFound(`job ${request.jobId} not found`);
        return encodedJobResponse(GetJobResponseSchema, job, jobToProto);
      });
    },
    listJobs(request, context) {
      return settled(() => {
        const caller = callerOf(context);
        const jobs = backend.list({ includeFinished: request.includeFinished })
          .filter((job) => canAccessJob(caller, job.owner));
        return encodedJobList(jobs, jobToProto);
      });
    },
    async deleteJob(request, context) {
      callerOf(context);
      checkJobId("job_id", request.jobId);
      visibleJob(context, request.jobId);
      await backend.delete(request.jobId);
      return {};
    },
    async waitJob(request, context) {
      const caller = callerOf(context);
      checkJobId("job_id", request.jobId);
      const job = visibleJob(context, request.jobId);
      // Only a wait that waits is a watch: an ended job's answer is at hand.
      const end = job.state === "running" ? watch(caller.name) : NOTHING_TO_END;
      try {
        const ended = await untilAborted(
          backend.wait(request.jobId),
          context.signal,
          options.shutdown,
        );
        return encodedJobResponse(WaitJobResponseSchema, ended, jobToProto);
      } finally {
        end();
      }
    },
    async *runJob(request, context) {
      const caller = callerOf(context);
      // StartJob's checks, then the watch, then the start: a refusal starts nothing.
      const fields = startRequestFromProto(caller.name, request);
      const end = watch(caller.name);
      try {
        const job = await backend.start(fields);
        // The end is asked for now, before the first message goes out: sending it may take a
        // while (a slow client), and a job that ends meanwhile may be deleted or retired
        // before a later look. The job is the caller's own, just started: nothing else to
        // authorize.
        const ending = backend.wait(job.id);
        ending.catch(() => {}); // a call that ends at its first message never awaits it
        yield { started: jobToProto(job) };
        const ended = await untilAborted(ending, context.signal, options.shutdown);
        yield encodedJobField(
          RunJobResponseSchema,
          RunJobResponseSchema.field.ended,
          ended,
          jobToProto,
        );
      } finally {
        end();
      }
    },
    async *streamOutput(request, context) {
      const caller = callerOf(context);
      checkJobId("job_id", request.jobId);
      const offset = safeNumber("offset", request.offset);
      visibleJob(context, request.jobId);
      const end = watch(caller.name);
      const signal = options.shutdown
        ? AbortSignal.any([context.signal, options.shutdown])
        : context.signal;
      try {
        for await (const data of backend.output(request.jobId, { signal, offset })) {
          yield { data };
        }
      } catch (error) {
        // The client sees why its stream ended early, instead of an internal error.
        if (options.shutdown?.aborted) throw new IjrError("UNAVAILABLE", "ijrd is shutting down");
        throw error;
      } finally {
        end();
      }
    },
  };
}
