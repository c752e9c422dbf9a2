/**
 * The job engine: starts jobs isolated in their own namespaces and cgroups inside a leased
 * root file system, supervises them to the end, stops them, keeps their records and output,
 * and streams the output to any number of readers.
 *
 * Life of a job: validate -> resolve limits -> job folder -> lease the rootfs -> cgroup ->
 * ijr_spawn (returns once the command is exec'd) -> running -> the init ends -> read the
 * command's status -> cgroup usage, kill, remove -> lease released -> record final -> (disk
 * scratch) scratch folder removed in the background. A start that fails at any step undoes
 * the steps before it, so it leaves no job, folder, cgroup or lease.
 * @module
 */

import {
  type CgroupController,
  DEFAULT_CPU_SHARES,
  DEFAULT_PIDS,
  type JobCgroup,
  userGroupName,
} from "../cgroup/mod.ts";
import { IjrError, invalidArgument, notFound } from "../errors/mod.ts";
import { defaultSeccompFilter } from "../native/mod.ts";
import {
  readCommandStatus,
  signalProcess,
  type SpawnedJob,
  spawnJob,
  type WaitResult,
} from "../native/spawn.ts";
import type { RootfsLease, RootfsProvider } from "../rootfs/types.ts";
import { Admission, type AdmissionTicket } from "./admission.ts";
import { FinishedJobs, summarize } from "./finished_jobs.ts";
import { type JobFolder, JobFolders } from "./job_folders.ts";
import { jobPaths, listJobIds, loadJob, mountPoint, saveJob, saveJobAsync } from "./job_store.ts";
import { followOutput } from "./output_reader.ts";
import { commandEnd } from "./command_end.ts";
import { OutputLimitWatch } from "./output_limit_watch.ts";
import { stateDiskError } from "./state_disk.ts";
import { Reaper } from "./reaper.ts";
import { validateStartRequest } from "./start_request.ts";
import { RANGE_SIZE, type UsernsLease, type UsernsPool } from "./userns_pool.ts";
import {
  DEFAULT_SCRATCH,
  type JobScratch,
  type JobState,
  type JobStatus,
  type JobSummary,
  type Retention,
  type StartJobRequest,
} from "./types.ts";

const SIGKILL = 9;
const SIGTERM = 15;
const DEFAULT_ENV = [
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  "HOME=/root",
  "TERM=xterm",
];

/** How a manager is set up. */
export interface JobManagerOptions {
  /** Folder for job records, output and scratch space. */
  readonly stateDir: string;
  /** Where root file systems come from. */
  readonly rootfs: RootfsProvider;
  /** Resource control; without it jobs run without cgroups (tests of isolation only). */
  readonly cgroups?: CgroupController;
  /** Time between SIGTERM and kill when a stop gives none (default 10 s). */
  readonly defaultGraceMs?: number;
  /** Default pids limit (default 1024). */
  readonly defaultPids?: number;
  /** Where jobs' writable layers live (default: DEFAULT_SCRATCH, 1 GiB of memory each). */
  readonly scratch?: JobScratch;
  /**
   * The output limit of a job that asks for none, and the most any job may ask for (ijrd
   * --max-output); absent: no limit.
   */
  readonly maxOutputBytes?: number;
  /** The memory limit of a job that asks for none (ijrd --default-memory); absent: none. */
  readonly defaultMemoryBytes?: number;
  /** Most jobs running at once (ijrd --max-jobs); absent: no bound. */
  readonly maxJobs?: number;
  /** Most jobs running at once per owner (ijrd --max-jobs-per-user); absent: no bound. */
  readonly maxJobsPerUser?: number;
  /** How many finished jobs are kept, and how long (ijrd --retain, --retain-for). */
  readonly retain?: Retention;
  /**
   * Where jobs' user namespaces come from (ijrd --userns-pool); absent: jobs run as the
   * host's root in their namespaces (ijrd --userns=off).
   */
  readonly userns?: UsernsPool;
  /** Whether jobs run under the default seccomp filter (default true; ijrd --seccomp). */
  readonly seccomp?: boolean;
}

/** A running job's live parts. */
interface LiveJob {
  status: JobStatus;
  readonly pid: number;
  /** Where the init reports the command's status; read and closed when the init ends. */
  readonly statusFd: number;
  /** The first record's write: the final one must not overtake it. */
  readonly recorded: Promise<void>;
  readonly folder: JobFolder;
  readonly lease: RootfsLease;
  readonly cgroup?: JobCgroup;
  /** Its place among the running jobs (--max-jobs, --max-jobs-per-user), given up at its end. */
  readonly ticket: AdmissionTicket;
  /** Its range of host ids, given back at its end. */
  readonly userns?: UsernsLease;
  readonly ended: Promise<JobStatus>;
  readonly resolveEnded: (status: JobStatus) => void;
  stopReason?: string;
  /** Watches the output for its limit while the job runs. */
  outputWatch?: OutputLimitWatch;
  /** The output reached its limit: the job is being stopped for it. */
  outputLimitReached?: boolean;
  /** The init has been reaped: its pid may belong to another process now, never signal it. */
  reaped?: boolean;
  /** Its first record could not be written: the job is ended and forgotten, not listed. */
  unrecorded?: boolean;
}

/**
 * The folder every job mounts its root on. Each job mounts its overlay there inside its own
 * private mount namespace, so one empty folder serves all of them at once, and no job pays
 * for creating and removing a mount point of its own. In the host's namespace it stays
 * empty; anything else there is refused rather than hidden under jobs' roots.
 */
async function ensureEmptyDir(path: string): Promise<void> {
  await Deno.mkdir(path, { recursive: true, mode: 0o700 });
  const info = await Deno.lstat(path);
  if (!info.isDirectory) throw new Error(`${path} must be a directory`);
  for await (const entry of Deno.readDir(path)) {
    throw new Error(`${path} must be empty (jobs mount their root there), found ${entry.name}`);
  }
}

/** Starts, supervises, stops and remembers jobs. */
export class JobManager {
  readonly #options:
    & Required<Pick<JobManagerOptions, "stateDir" | "rootfs" | "defaultGraceMs" | "defaultPids">>
    & Required<Pick<JobManagerOptions, "scratch">>
    & JobManagerOptions;
  readonly #finished: FinishedJobs;
  readonly #live = new Map<string, LiveJob>();
  readonly #admission: Admission;
  readonly #reaper = new Reaper();
  readonly #mountPoint: string;
  readonly #folders: JobFolders;
  /** The seccomp filter every job gets, compiled once; undefined when off. */
  readonly #seccompFilter: Uint8Array<ArrayBuffer> | undefined;

  private constructor(options: JobManagerOptions) {
    this.#options = {
      defaultGraceMs: 10_000,
      defaultPids: DEFAULT_PIDS,
      scratch: DEFAULT_SCRATCH,
      ...options,
    };
    if (this.#options.scratch.on === "memory" && !(this.#options.scratch.sizeBytes >= 1024 ** 2)) {
      throw invalidArgument("a job's memory scratch must be at least 1m");
    }
    this.#mountPoint = mountPoint(options.stateDir);
    this.#finished = new FinishedJobs(options.stateDir, options.retain);
    this.#admission = new Admission(options);
    this.#seccompFilter = options.seccomp === false ? undefined : defaultSeccompFilter();
    this.#folders = new JobFolders(options.stateDir, {
      scratchFolders: this.#options.scratch.on === "disk",
    });
  }

  /**
   * Opens a manager over a state folder: finished jobs are kept, jobs recorded as running
   * are marked lost (their supervisor is gone, and with it, by the parent-death signal,
   * their processes), and their leftovers (scratch folders, cgroups) are removed.
   */
  static async open(options: JobManagerOptions): Promise<JobManager> {
    const manager = new JobManager(options);
    await Deno.mkdir(`${options.stateDir}/jobs`, { recursive: true, mode: 0o700 });
    await ensureEmptyDir(manager.#mountPoint);
    const finished: JobStatus[] = [];
    for (const id of await listJobIds(options.stateDir)) {
      const paths = jobPaths(options.stateDir, id);
      const loaded = await loadJob(options.stateDir, id);
      if ("missing" in loaded) {
        // A start that crashed before its record was written: nothing to keep.
        await Deno.remove(paths.dir, { recursive: true }).catch(() => {});
        continue;
      }
      if ("invalid" in loaded) {
        // Kept on disk for whoever wants to look, and left out of everything ijrd serves.
        console.error(`ijrd: skipping job record ${loaded.file}: ${loaded.invalid}`);
        continue;
      }
      const job = loaded.job;
      await Deno.remove(paths.scratch, { recursive: true }).catch(() => {});
      if (job.state === "running") {
        const lost: JobStatus = {
          ...job,
          state: "lost",
          pid: undefined,
          endedAt: new Date(),
          message: "ijrd stopped while the job was running",
        };
        saveJob(options.stateDir, lost, paths.finalRecordTemp);
        finished.push(lost);
      } else {
        finished.push(job);
      }
    }
    // Retention applies at once: jobs past --retain or --retain-for go now.
    manager.#finished.load(finished);
    await options.cgroups?.removeStale(new Set());
    return manager;
  }

  /** Starts a job; returns once its command runs, or throws the precise reason it cannot. */
  async start(request: StartJobRequest): Promise<JobStatus> {
    const limits = await validateStartRequest(this.#withDefaultMemory(request), {
      defaults: { cpuShares: DEFAULT_CPU_SHARES, pids: this.#options.defaultPids },
    });
    const env = request.env?.length ? [...request.env] : DEFAULT_ENV;
    const workdir = request.workdir ?? "/";
    const maxOutputBytes = this.#outputLimitOf(request);
    // Counted from here until it fails or its job ends; nothing is made before this passes.
    const ticket = this.#admission.admit(request.owner);
    try {
      return await this.#start(request, { limits, env, workdir, maxOutputBytes }, ticket);
    } catch (error) {
      ticket.release();
      throw error;
    }
  }

  async #start(
    request: StartJobRequest,
    resolved: Pick<JobStatus, "limits" | "env" | "workdir" | "maxOutputBytes">,
    ticket: AdmissionTicket,
  ): Promise<JobStatus> {
    const { limits, env, workdir, maxOutputBytes } = resolved;
    let folder: JobFolder;
    try {
      folder = this.#folders.make();
    } catch (error) {
      throw stateDiskError(error, "cannot make the job's folder", this.#options.stateDir);
    }
    const { id, paths } = folder;
    let lease: RootfsLease;
    let userns: UsernsLease | undefined;
    try {
      lease = this.#options.rootfs.acquire(request.rootfs, id);
    } catch (error) {
      await this.#folders.discard(folder);
      throw error;
    }
    try {
      userns = this.#options.userns?.lease();
    } catch (error) {
      lease.release();
      await this.#folders.discard(folder);
      throw error;
    }
    const starting: JobStatus = {
      id,
      owner: request.owner,
      rootfs: request.rootfs,
      argv: [...request.argv],
      env,
      workdir,
      limits,
      timeoutMs: request.timeoutMs,
      maxOutputBytes,
      state: "running",
      oomKilled: false,
      isolation: {
        ...(userns
          ? {
            userNamespace: { hostUid: userns.hostUid, hostGid: userns.hostGid, size: RANGE_SIZE },
          }
          : {}),
        seccomp: this.#seccompFilter !== undefined,
      },
      startedAt: new Date(),
    };
    // The job's first record is written on the blocking pool while this thread spawns the
    // job, and start() returns only once both are done: a job ID handed out is always on
    // disk, and after a crash of ijrd its job is reported lost, never forgotten.
    const recorded = saveJobAsync(
      this.#options.stateDir,
      starting,
      paths.firstRecordTemp,
      paths.finalRecordTemp,
    );
    recorded.catch(() => {}); // awaited below; this only keeps a failure from going unhandled
    let cgroup: JobCgroup | undefined;
    let spawned: SpawnedJob;
    try {
      // In the owner's group: one user's jobs together stay under the per-user caps.
      cgroup = await this.#options.cgroups?.create(id, limits, userGroupName(request.owner));
      spawned = spawnJob({
        mountPoint: this.#mountPoint,
        lowerDir: lease.path,
        scratch: this.#options.scratch.on === "memory"
          ? { memoryBytes: this.#options.scratch.sizeBytes }
          : { dir: paths.scratch },
        hostname: id,
        outputPath: paths.output,
        workdir,
        argv: request.argv,
        env,
        cgroupProcsFiles: cgroup?.joinProcsFiles ?? [],
        cgroupDir: cgroup?.cloneIntoDir,
        // The init keeps both, even while ijrd is down: no timer here.
        maxOutputBytes,
        timeoutMs: request.timeoutMs,
        graceMs: this.#options.defaultGraceMs,
        userns,
        seccompFilter: this.#seccompFilter,
      });
    } catch (error) {
      await recorded.catch(() => {}); // so the folder's removal cannot race the record's rename
      await cgroup?.remove().catch(() => {});
      await this.#folders.discard(folder);
      lease.release();
      userns?.release();
      throw error;
    }
    const { pid, statusFd } = spawned;
    const status: JobStatus = { ...starting, pid };
    let resolveEnded!: (status: JobStatus) => void;
    const ended = new Promise<JobStatus>((resolve) => resolveEnded = resolve);
    const live: LiveJob = {
      status,
      pid,
      statusFd,
      recorded,
      folder,
      lease,
      cgroup,
      ticket,
      userns,
      ended,
      resolveEnded,
    };
    this.#live.set(id, live);
    if (maxOutputBytes !== undefined) {
      live.outputWatch = new OutputLimitWatch(paths.output, maxOutputBytes, () => {
        live.outputLimitReached = true;
        void this.#stop(
          live,
          this.#options.defaultGraceMs,
          `output limit exceeded (${maxOutputBytes} bytes)`,
        );
      });
    }
    this.#reaper.watch(pid, (result) => this.#finish(live, result));
    try {
      await recorded;
    } catch (error) {
      // Unrecorded, the job could not be accounted for after a restart: kill it, and leave
      // nothing of it, as for any start that fails.
      live.unrecorded = true;
      await this.#stop(live, 0, "its start could not be recorded");
      throw stateDiskError(error, `cannot record job ${id}`, this.#options.stateDir);
    }
    return status;
  }

  /** The request with the worker's memory limit when it asks for none. */
  #withDefaultMemory(request: StartJobRequest): StartJobRequest {
    const memoryBytes = request.limits?.memoryBytes ?? this.#options.defaultMemoryBytes;
    if (memoryBytes === undefined) return request;
    return { ...request, limits: { ...request.limits, memoryBytes } };
  }

  /** The request's output limit, checked against the worker's, or the worker's. */
  #outputLimitOf(request: StartJobRequest): number | undefined {
    const worker = this.#options.maxOutputBytes;
    if (request.maxOutputBytes === undefined) return worker;
    const asked = Number(request.maxOutputBytes); // validated: a safe integer
    if (worker !== undefined && asked > worker) {
      throw invalidArgument(
        `limits.max_output_bytes ${asked} is above this worker's limit of ${worker} bytes ` +
          "(ijrd --max-output)",
      );
    }
    return asked;
  }

  /**
   * Stops a job: SIGTERM to its init (forwarded to the command), then after the grace period
   * every process in the job is killed. Returns the final status, which reports what really
   * happened: a job that exits by itself meanwhile is `exited`, not `stopped`.
   */
  async stop(id: string, options: { graceMs?: number } = {}): Promise<JobStatus> {
    const live = this.#live.get(id);
    if (!live) return this.#get(id);
    return await this.#stop(
      live,
      options.graceMs ?? this.#options.defaultGraceMs,
      "stopped by request",
    );
  }

  async #stop(live: LiveJob, graceMs: number, reason: string): Promise<JobStatus> {
    // Reaped, the job is only being recorded: its pid is free for any other process.
    if (live.reaped) return await live.ended;
    live.stopReason ??= reason;
    signalProcess(live.pid, SIGTERM);
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<"grace over">((resolve) => {
      graceTimer = setTimeout(() => resolve("grace over"), graceMs);
    });
    const outcome = await Promise.race([live.ended, graceOver]);
    clearTimeout(graceTimer);
    if (outcome === "grace over" && !live.reaped) {
      // Kill everything: the cgroup holds every process of the job, and the init's death
      // tears the PID namespace down as well.
      await live.cgroup?.killAll().catch(() => {});
      signalProcess(live.pid, SIGKILL);
    }
    return await live.ended;
  }

  /**
   * The job's whole status, argv and env included (a finished job's are read from its
   * record); undefined when there is no such job.
   */
  get(id: string): JobStatus | undefined {
    return this.#live.get(id)?.status ?? this.#finished.status(id);
  }

  /** What `list` shows of a job (no argv or env); cheap, from memory. */
  summary(id: string): JobSummary | undefined {
    const live = this.#live.get(id);
    return live ? summarize(live.status) : this.#finished.summary(id);
  }

  #get(id: string): JobStatus {
    const job = this.get(id);
    if (!job) throw notFound(`job ${id} not found`);
    return job;
  }

  /** Jobs, oldest first; running ones only unless `includeFinished`. */
  list(options: { includeFinished?: boolean } = {}): JobSummary[] {
    const jobs = [...this.#live.values()].map((live) => summarize(live.status));
    if (options.includeFinished) jobs.push(...this.#finished.all());
    return jobs.sort((a, b) =>
      a.startedAt.getTime() - b.startedAt.getTime() || a.id.localeCompare(b.id)
    );
  }

  /**
   * Removes a finished job now: its record, output and folder. FAILED_PRECONDITION while it
   * runs, NOT_FOUND when there is no such job.
   */
  async delete(id: string): Promise<void> {
    if (this.#live.has(id)) {
      throw new IjrError("FAILED_PRECONDITION", `job ${id} is running: stop it first`);
    }
    if (!(await this.#finished.delete(id))) throw notFound(`job ${id} not found`);
  }

  /** Resolves with the final status once the job has ended. */
  async wait(id: string): Promise<JobStatus> {
    const live = this.#live.get(id);
    return live ? await live.ended : this.#get(id);
  }

  /** The job's output from byte 0, following it until the job ends. */
  output(id: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    const live = this.#live.get(id);
    if (!live) this.#get(id);
    return followOutput(jobPaths(this.#options.stateDir, id).output, {
      ended: live ? live.ended : Promise.resolve(),
      signal: options.signal,
    });
  }

  /**
   * Resolves once the background work is done: the next job's folder made ahead, finished
   * jobs' scratch folders removed.
   */
  async settled(): Promise<void> {
    await this.#folders.settled();
    await this.#finished.settled();
  }

  /** Number of jobs running. */
  get running(): number {
    return this.#live.size;
  }

  /** Stops every running job (recorded as stopped), waits for them and their cleanup. */
  async shutdown(options: { graceMs?: number } = {}): Promise<void> {
    const graceMs = options.graceMs ?? this.#options.defaultGraceMs;
    await Promise.all(
      [...this.#live.values()].map((live) => this.#stop(live, graceMs, "stopped: ijrd shut down")),
    );
    this.#finished.close();
    await this.#folders.close();
    await this.#finished.settled();
  }

  async #finish(live: LiveJob, initResult: WaitResult): Promise<void> {
    live.reaped = true;
    live.outputWatch?.close();
    const id = live.status.id;
    const command = commandEnd(readCommandStatus(live.statusFd), initResult);
    let usage;
    let message: string | undefined;
    try {
      usage = await live.cgroup?.usage();
      // The init's death took the whole PID namespace with it, so the cgroup is normally
      // empty already; kill only when removal says something is still inside.
      await live.cgroup?.remove().catch(async () => {
        await live.cgroup?.killAll();
        await live.cgroup?.remove();
      });
    } catch (error) {
      message = `cgroup cleanup failed: ${(error as Error).message}`;
    }
    live.lease.release();
    live.ticket.release();
    // Every process of the job is gone with its PID namespace: the range is free again.
    live.userns?.release();
    if (live.unrecorded) {
      this.#live.delete(id);
      await this.#folders.discard(live.folder);
      live.resolveEnded({ ...live.status, state: "failed", endedAt: new Date(), pid: undefined });
      return;
    }
    // A stop the init began (timeout, output limit) is a stop like one asked for.
    const stoppedBy = "stoppedBy" in command ? command.stoppedBy : undefined;
    const outputLimitExceeded = stoppedBy === "output_limit" || live.outputLimitReached === true;
    if (stoppedBy === "timeout") live.stopReason ??= `timed out after ${live.status.timeoutMs} ms`;
    if (outputLimitExceeded) {
      live.stopReason ??= `output limit exceeded (${live.status.maxOutputBytes} bytes)`;
    }
    let state: JobState;
    if ("invalid" in command) {
      state = "failed";
      message ??= `the job's init reported an invalid status: ${command.invalid}`;
    } else if ("exitCode" in command) {
      state = "exited";
      if (stoppedBy) message ??= live.stopReason;
    } else if (live.stopReason) {
      state = "stopped";
      message ??= live.stopReason;
    } else {
      state = "killed";
      if (usage?.oomKilled) message ??= "killed by the kernel's OOM killer (memory limit)";
    }
    const final: JobStatus = {
      ...live.status,
      state,
      exitCode: "exitCode" in command ? command.exitCode : undefined,
      signal: "signal" in command
        ? command.signal
        : (state === "stopped" && !("exitCode" in command) ? SIGKILL : undefined),
      oomKilled: usage?.oomKilled ?? false,
      ...(outputLimitExceeded ? { outputLimitExceeded } : {}),
      cpuNanos: usage?.cpuNanos,
      memoryPeakBytes: usage?.memoryPeakBytes,
      endedAt: ("endedAt" in command ? command.endedAt : undefined) ?? new Date(),
      pid: undefined,
      message,
    };
    try {
      await live.recorded.catch(() => {});
      saveJob(this.#options.stateDir, final, live.folder.paths.finalRecordTemp);
    } catch (error) {
      console.error(`ijr: cannot record the end of job ${id}: ${(error as Error).message}`);
    }
    this.#live.delete(id);
    this.#finished.add(final);
    live.status = final;
    live.resolveEnded(final);
    // The overlay went with the job's mount namespace; its layer is deleted after the end is
    // recorded, off the path of anyone waiting for the job.
    this.#folders.removeScratch(live.folder.paths);
  }
}
