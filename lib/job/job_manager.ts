/**
 * The job engine: starts jobs isolated in their own namespaces and cgroups inside a leased
 * root file system, supervises them to the end, stops them, keeps their records and output,
 * and streams the output to any number of readers.
 *
 * Life of a job: validate -> resolve limits -> job folder -> lease the rootfs -> cgroup ->
 * ijr_spawn (returns once the command is exec'd) -> running -> the init records the
 * command's end in the job's end file and exits -> (in a later turn, once the first record is
 * written) the end file read -> cgroup usage -> lease released -> record final -> the end
 * reported -> 10 ms later, in the background: the cgroup removed, (disk scratch) the scratch
 * folder removed. A start that fails at any step undoes the steps before it, so it leaves no
 * job, folder, cgroup or lease.
 *
 * Live restore (`liveRestore`): jobs outlive the manager. Its shutdown leaves them running,
 * and a crash of ijrd does too (their inits have no parent-death signal); the next manager
 * over the same state folder adopts every job whose init still runs (found in the job's
 * cgroup, held by a pidfd: lib/job/init_process.ts) and records the end of every job that
 * ended meanwhile from its end file and its cgroup. The init keeps the job's timeout and the
 * kernel its limits all along.
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
import {
  abiConstant,
  closeJobNamespaces,
  defaultSeccompFilter,
  ExitWatch,
  type JobNamespaces,
  readCommandStatus,
  reapPidfd,
  type SpawnedJob,
  spawnJob,
  spawnJobOnPool,
  type WaitResult,
} from "../native/mod.ts";
import type { RootfsLease, RootfsProvider } from "../rootfs/mod.ts";
import {
  BACKGROUND_DELAY_MS,
  BackgroundWork,
  MAX_REFILL_WAIT_MS,
  nextTurnAfter,
  settledThenDelay,
  settledWithin,
} from "./background_work.ts";
import { FinalRecords } from "./final_records.ts";
import { Admission, type AdmissionTicket } from "./admission.ts";
import { FinishedJobs, summarize } from "./finished_jobs.ts";
import { type JobFolder, JobFolders } from "./job_folders.ts";
import { jobPaths, listJobIds, loadJob, mountPoint, saveJob, saveJobAsync } from "./job_store.ts";
import { followOutput } from "./output_reader.ts";
import { commandEnd } from "./command_end.ts";
import { OutputLimitWatch } from "./output_limit_watch.ts";
import { stateDiskError } from "./state_disk.ts";
import {
  AdoptedInit,
  ChildInit,
  EndedInit,
  findAdoptableInit,
  type InitProcess,
} from "./init_process.ts";
import { NamespacePool } from "./namespace_pool.ts";
import { Reaper } from "./reaper.ts";
import { openStateVersion } from "./state_version.ts";
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
  /**
   * Jobs outlive this manager (ijrd --live-restore): shutdown() leaves them running, their
   * inits have no parent-death signal, and open() adopts them. Default false: shutdown()
   * stops every job, and a job's init dies with the thread that started it.
   */
  readonly liveRestore?: boolean;
}

/** A running job's live parts. */
interface LiveJob {
  status: JobStatus;
  /** Its init: a child of this process, or adopted after a restart (live restore). */
  readonly init: InitProcess;
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
  /** The init has ended (and, a child, been reaped): nothing may be signalled any more. */
  reaped?: boolean;
  /** Its first record could not be written: the job is ended and forgotten, not listed. */
  unrecorded?: boolean;
  /** Why its end cannot be known, if nothing records it (a job that ended while ijrd was down). */
  lostReason?: string;
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
  /** Waits for the inits this process spawned (its children). */
  readonly #reaper = new Reaper();
  /** Waits for the inits it adopted (live restore): not its children. */
  readonly #exits = new ExitWatch();
  readonly #mountPoint: string;
  readonly #folders: JobFolders;
  readonly #finalRecords: FinalRecords;
  /** Fresh network and IPC namespaces, made ahead of the jobs that enter them. */
  readonly #namespaces = new NamespacePool();
  /** Ended jobs' cgroups being removed. */
  readonly #cgroupRemovals = new BackgroundWork();
  /** Ends of reaped jobs being recorded. */
  readonly #ends = new BackgroundWork();
  /** Starts in flight. */
  readonly #starting = new BackgroundWork();
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
    this.#finalRecords = new FinalRecords(options.stateDir);
    this.#folders = new JobFolders(options.stateDir, {
      scratchFolders: this.#options.scratch.on === "disk",
    });
  }

  /**
   * Opens a manager over a state folder: finished jobs are kept; a job recorded as running is
   * adopted when its init still runs, recorded as it ended when it ended while no manager
   * watched it, or marked lost with the reason (its init was of an ijrd before live restore,
   * and died with it); the leftovers of jobs that are over (scratch folders, cgroups) are
   * removed. Throws for a state folder of a newer ijrd (lib/job/state_version.ts).
   */
  static async open(options: JobManagerOptions): Promise<JobManager> {
    const manager = new JobManager(options);
    await Deno.mkdir(`${options.stateDir}/jobs`, { recursive: true, mode: 0o700 });
    await openStateVersion(options.stateDir);
    await ensureEmptyDir(manager.#mountPoint);
    const finished: JobStatus[] = [];
    const running: { job: JobStatus; initProtocol?: number }[] = [];
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
      if (job.state === "running") {
        running.push(loaded);
      } else {
        await Deno.remove(paths.scratch, { recursive: true }).catch(() => {});
        finished.push(job);
      }
    }
    // Retention applies at once: jobs past --retain or --retain-for go now.
    manager.#finished.load(finished);
    // Every job that still runs keeps its cgroup; every other job cgroup is stale.
    const adopted = new Set<string>();
    for (const { job, initProtocol } of running) {
      if (await manager.#restore(job, initProtocol)) adopted.add(job.id);
    }
    await options.cgroups?.removeStale(adopted);
    return manager;
  }

  /**
   * A job recorded as running when the manager opens: adopted (true) when its init still
   * runs and speaks this ijrd's protocol; otherwise its end is recorded: as the init recorded
   * it in the end file, or lost with the reason.
   */
  async #restore(job: JobStatus, initProtocol: number | undefined): Promise<boolean> {
    const paths = jobPaths(this.#options.stateDir, job.id);
    const cgroup = await this.#options.cgroups?.open(job.id, userGroupName(job.owner));
    const protocol = abiConstant("IJR_INIT_PROTOCOL_VERSION");
    const init = cgroup ? await findAdoptableInit(cgroup) : undefined;
    if (init && initProtocol === protocol) {
      this.#adopt(job, init, cgroup);
      return true;
    }
    let lostReason: string | undefined;
    if (initProtocol === undefined) {
      // Before live restore, an init died with its ijrd (parent-death signal).
      lostReason = "ijrd stopped while the job was running";
    } else if (initProtocol !== protocol) {
      lostReason = `its init speaks protocol ${initProtocol}, which this ijrd cannot adopt`;
      if (init) {
        // Left alone: it may be adopted by an ijrd that speaks its protocol.
        init.close();
        console.error(`ijrd: job ${job.id} is left running: ${lostReason}`);
        this.#recordLost(job, `${lostReason}; left running`);
        return true;
      }
    } else {
      // Without live restore its init died with ijrd (parent-death signal); with it, the
      // init was killed (by another hand: it records every end it sees), or the host
      // restarted.
      lostReason = "ijrd stopped while the job was running, and its init ended without " +
        "recording how the job ended";
    }
    // Its init has ended: its end, as recorded, through the same steps as a job ending now.
    const live = this.#liveJob(job, new EndedInit(), {
      folder: { id: job.id, paths },
      cgroup,
    });
    live.lostReason = lostReason;
    await this.#finish(live, undefined);
    return false;
  }

  /** Records a job as lost now (its end cannot be known). */
  #recordLost(job: JobStatus, message: string): void {
    const lost: JobStatus = {
      ...job,
      state: "lost",
      pid: undefined,
      endedAt: new Date(),
      message,
    };
    const paths = jobPaths(this.#options.stateDir, job.id);
    saveJob(this.#options.stateDir, lost, paths.finalRecordTemp);
    this.#finished.add(lost);
  }

  /**
   * Takes a running job of a previous ijrd on as if it had started it: its rootfs lease, its
   * place among the running jobs, its user namespace's id range, its output limit's watch,
   * and a wait for its init's end.
   */
  #adopt(job: JobStatus, init: AdoptedInit, cgroup: JobCgroup | undefined): void {
    const paths = jobPaths(this.#options.stateDir, job.id);
    let lease: RootfsLease;
    try {
      lease = this.#options.rootfs.acquire(job.rootfs, job.id);
    } catch (error) {
      // The job has its root mounted already; nothing to hold it by, so nothing to release.
      console.error(`ijrd: adopted job ${job.id} holds no lease of ${job.rootfs}: ${error}`);
      lease = { name: job.rootfs, path: "", release: () => {} };
    }
    const hostUid = job.isolation?.userNamespace?.hostUid;
    const userns = hostUid === undefined ? undefined : this.#options.userns?.claim(hostUid);
    const live = this.#liveJob({ ...job, pid: init.pid }, init, {
      folder: { id: job.id, paths },
      cgroup,
      lease,
      ticket: this.#admission.readmit(job.owner),
      userns,
    });
    this.#live.set(job.id, live);
    this.#watchOutput(live);
    this.#exits.watch(init.pidfd, () => {
      // Reaped here when this process happens to be its parent (a manager reopened in the
      // same process); otherwise its parent reaps it, and its end file says how it ended.
      const result = reapPidfd(init.pidfd);
      init.close();
      this.#recordEnd(live, typeof result === "object" ? result : undefined, Promise.resolve());
    });
  }

  /** A LiveJob for a job that already runs, or ran; what it does not hold is a no-op. */
  #liveJob(
    status: JobStatus,
    init: InitProcess,
    parts:
      & Pick<LiveJob, "folder" | "cgroup">
      & Partial<Pick<LiveJob, "lease" | "ticket" | "userns">>,
  ): LiveJob {
    let resolveEnded!: (status: JobStatus) => void;
    const ended = new Promise<JobStatus>((resolve) => resolveEnded = resolve);
    const release = () => {};
    return {
      status,
      init,
      recorded: Promise.resolve(),
      lease: { name: status.rootfs, path: "", release },
      ticket: { release },
      ...parts,
      ended,
      resolveEnded,
    };
  }

  /** Stops the job when its output reaches its limit (the kernel holds it there already). */
  #watchOutput(live: LiveJob): void {
    const maxOutputBytes = live.status.maxOutputBytes;
    if (maxOutputBytes === undefined) return;
    live.outputWatch = new OutputLimitWatch(live.folder.paths.output, maxOutputBytes, () => {
      live.outputLimitReached = true;
      void this.#stop(
        live,
        this.#options.defaultGraceMs,
        `output limit exceeded (${maxOutputBytes} bytes)`,
      );
    });
  }

  /** Starts a job; returns once its command runs, or throws the precise reason it cannot. */
  start(request: StartJobRequest): Promise<JobStatus> {
    // Kept track of from its first step, so that shutdown waits for a start in flight (its
    // spawn may be on the pool) rather than let its job in after the rest were stopped or let
    // go.
    return this.#starting.track(this.#admitAndStart(request));
  }

  async #admitAndStart(request: StartJobRequest): Promise<JobStatus> {
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
    // What this start takes from the reserves made ahead (folder, spare cgroup, namespaces)
    // is made again once it is done (or has hung a while), and a moment more
    // (background_work.ts says why).
    const done = Promise.withResolvers<void>();
    const refillAfter = settledThenDelay(
      settledWithin(done.promise, MAX_REFILL_WAIT_MS),
      BACKGROUND_DELAY_MS,
    );
    try {
      return await this.#startWith(request, resolved, ticket, refillAfter);
    } finally {
      done.resolve();
    }
  }

  async #startWith(
    request: StartJobRequest,
    resolved: Pick<JobStatus, "limits" | "env" | "workdir" | "maxOutputBytes">,
    ticket: AdmissionTicket,
    refillAfter: Promise<void>,
  ): Promise<JobStatus> {
    const { limits, env, workdir, maxOutputBytes } = resolved;
    let folder: JobFolder;
    try {
      folder = this.#folders.make(refillAfter);
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
    // disk, and after a crash of ijrd its job is reported lost, never forgotten. Handed to the
    // pool before the cgroup is made, it is mostly written by the time the spawn goes to the
    // pool; handed over after the spawn instead, it ran beside the spawn on this VM's two
    // vCPUs, and the start-to-exit was slower (tried twice, bench/README.md).
    const recorded = saveJobAsync(
      this.#options.stateDir,
      starting,
      paths.firstRecordTemp,
      paths.finalRecordTemp,
    );
    recorded.catch(() => {}); // awaited below; this only keeps a failure from going unhandled
    let cgroup: JobCgroup | undefined;
    let namespaces: JobNamespaces | undefined;
    let spawned: SpawnedJob;
    try {
      // In the owner's group: one user's jobs together stay under the per-user caps.
      cgroup = await this.#options.cgroups?.create(id, limits, userGroupName(request.owner), {
        refillAfter,
      });
      // A job that outlives ijrd is spawned on the blocking pool, so that this thread answers
      // other calls meanwhile; without live restore, on this thread (spawn.ts says why).
      const spawn = this.#options.liveRestore ? spawnJobOnPool : spawnJob;
      namespaces = this.#namespaces.take(refillAfter);
      spawned = await spawn({
        mountPoint: this.#mountPoint,
        lowerDir: lease.path,
        scratch: this.#options.scratch.on === "memory"
          ? { memoryBytes: this.#options.scratch.sizeBytes }
          : { dir: paths.scratch },
        hostname: id,
        outputPath: paths.output,
        endPath: paths.end,
        outlivesIjrd: this.#options.liveRestore,
        workdir,
        argv: request.argv,
        env,
        cgroupTaskFiles: cgroup?.joinTaskFiles ?? [],
        cgroupDir: cgroup?.cloneIntoDir,
        // The init keeps both, even while ijrd is down: no timer here.
        maxOutputBytes,
        timeoutMs: request.timeoutMs,
        graceMs: this.#options.defaultGraceMs,
        userns,
        namespaces,
        seccompFilter: this.#seccompFilter,
      });
    } catch (error) {
      await recorded.catch(() => {}); // so the folder's removal cannot race the record's rename
      await cgroup?.remove().catch(() => {});
      await this.#folders.discard(folder);
      lease.release();
      userns?.release();
      throw error;
    } finally {
      // The job's child has entered them (or failed): ijrd's descriptors of them go at once.
      if (namespaces) closeJobNamespaces(namespaces);
    }
    const { pid } = spawned;
    const init = new ChildInit(pid);
    const live: LiveJob = {
      ...this.#liveJob({ ...starting, pid }, init, { folder, cgroup, lease, ticket, userns }),
      recorded,
    };
    const status = live.status;
    this.#live.set(id, live);
    this.#watchOutput(live);
    this.#reaper.watch(pid, (result) => {
      init.reaped = true;
      // Once the start has returned, in a later turn: a short command often ends before the
      // pool thread that spawned it is back, and its end, read and recorded at once, held back
      // the answer to its start by 0.2-0.5 ms (bench/README.md). The start returns once its
      // first record is written, and a failed one stops the job (which waits for this).
      this.#recordEnd(live, result, recorded);
    });
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
    live.init.signal(SIGTERM);
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
      live.init.signal(SIGKILL);
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

  /**
   * The job's output from byte `offset` (0), following it until the job ends; OUT_OF_RANGE
   * when the job ended with less output than the offset (see followOutput).
   */
  output(
    id: string,
    options: { signal?: AbortSignal; offset?: number } = {},
  ): AsyncGenerator<Uint8Array> {
    const live = this.#live.get(id);
    if (!live) this.#get(id);
    return followOutput(jobPaths(this.#options.stateDir, id).output, {
      ended: live ? live.ended : Promise.resolve(),
      signal: options.signal,
      offset: options.offset,
      name: `job ${id}'s output`,
    });
  }

  /**
   * Resolves once the background work is done: the next job's folder and namespaces made
   * ahead, ended jobs' cgroups and scratch folders removed, retired jobs' folders removed.
   */
  async settled(): Promise<void> {
    await this.#ends.settled();
    await this.#cgroupRemovals.settled();
    await this.#folders.settled();
    await this.#namespaces.settled();
    await this.#finished.settled();
  }

  /** Number of jobs running. */
  get running(): number {
    return this.#live.size;
  }

  /** Stops every running job (recorded as stopped), waits for them and their cleanup. */
  async shutdown(options: { graceMs?: number } = {}): Promise<void> {
    await this.#starting.settled();
    if (this.#options.liveRestore) {
      this.#leaveRunning();
    } else {
      const graceMs = options.graceMs ?? this.#options.defaultGraceMs;
      await Promise.all(
        [...this.#live.values()].map((live) =>
          this.#stop(live, graceMs, "stopped: ijrd shut down")
        ),
      );
    }
    // Ends already reaped are recorded before anything they use is closed.
    await this.#ends.settled();
    await this.#exits.close();
    await this.#cgroupRemovals.settled();
    this.#finished.close();
    await this.#folders.close();
    await this.#namespaces.close();
    await this.#finished.settled();
  }

  /**
   * Live restore: lets go of every running job, which keeps running, its record saying so,
   * for the next manager to adopt. Nothing of the job is released on disk or in the kernel.
   */
  #leaveRunning(): void {
    this.#reaper.close();
    for (const live of this.#live.values()) {
      live.outputWatch?.close();
      if (live.init instanceof AdoptedInit) live.init.close();
    }
    this.#live.clear();
  }

  /**
   * Records the end of a job whose init has ended, in a later turn once `after` settles, kept
   * track of (settled() and shutdown wait for it). From now on nothing of the job may be
   * signalled, and its output no longer counts against its limit (the job wrote it all). A
   * bug of ijrd's while recording still ends the job, as failed, for everyone waiting on it.
   */
  #recordEnd(live: LiveJob, initResult: WaitResult | undefined, after: Promise<unknown>): void {
    live.reaped = true;
    live.outputWatch?.close();
    this.#ends.trackAfter(
      nextTurnAfter(after),
      () =>
        this.#finish(live, initResult).catch((error) => {
          const id = live.status.id;
          console.error(`ijrd: cannot record the end of job ${id}: ${(error as Error)?.stack}`);
          this.#live.delete(id);
          live.resolveEnded({
            ...live.status,
            state: "failed",
            endedAt: new Date(),
            pid: undefined,
            message: `ijrd could not record its end: ${(error as Error)?.message}`,
          });
        }),
    );
  }

  /**
   * Records a job's end once its init has ended: `initResult` is how the init ended when this
   * process reaped it, undefined when it was not this process's child (adopted, or ended
   * while no manager watched it).
   */
  async #finish(live: LiveJob, initResult: WaitResult | undefined): Promise<void> {
    const id = live.status.id;
    const command = commandEnd(readCommandStatus(live.folder.paths.end), initResult);
    let usage;
    let message: string | undefined;
    try {
      usage = await live.cgroup?.finalUsage();
    } catch (error) {
      message = `cannot read the job's cgroup counters: ${(error as Error).message}`;
    }
    live.lease.release();
    live.ticket.release();
    // Every process of the job is gone with its PID namespace: the range is free again.
    live.userns?.release();
    if (live.unrecorded) {
      this.#live.delete(id);
      await this.#folders.discard(live.folder);
      live.resolveEnded({ ...live.status, state: "failed", endedAt: new Date(), pid: undefined });
      this.#removeCgroup(live);
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
    } else if ("signal" in command || initResult !== undefined || usage?.oomKilled) {
      state = "killed";
      if (usage?.oomKilled) message ??= "killed by the kernel's OOM killer (memory limit)";
    } else {
      // Not this process's child, and no record of the end: nothing says how it ended.
      state = "lost";
      message ??= live.lostReason ?? "its init ended without recording how the command ended";
    }
    // Without a signal from the init or its record, a stop past its grace and the OOM killer
    // both end the job with SIGKILL.
    const killedWithoutRecord = (state === "stopped" || (state === "killed" && usage?.oomKilled)) &&
      !("exitCode" in command) && !("signal" in command);
    const final: JobStatus = {
      ...live.status,
      state,
      exitCode: "exitCode" in command ? command.exitCode : undefined,
      signal: "signal" in command ? command.signal : (killedWithoutRecord ? SIGKILL : undefined),
      oomKilled: usage?.oomKilled ?? false,
      ...(outputLimitExceeded ? { outputLimitExceeded } : {}),
      cpuNanos: usage?.cpuNanos,
      memoryPeakBytes: usage?.memoryPeakBytes,
      endedAt: ("endedAt" in command ? command.endedAt : undefined) ?? new Date(),
      pid: undefined,
      message,
    };
    let firstRecord;
    try {
      await live.recorded.catch(() => {});
      // On this thread while the state disk is quick, else on the blocking pool, where a busy
      // disk holds up only the ends that wait for it (final_records.ts).
      firstRecord = await this.#finalRecords.write(final, live.folder.paths.finalRecordTemp);
    } catch (error) {
      console.error(`ijr: cannot record the end of job ${id}: ${(error as Error).message}`);
    }
    try {
      this.#live.delete(id);
      this.#finished.add(final);
      live.status = final;
      live.resolveEnded(final);
    } finally {
      // The cgroups go after the end is reported, off the path of anyone waiting for it: the
      // init's death took every process of the job with its PID namespace, so nothing of the
      // job runs in them any more, and nothing else depends on their removal.
      this.#removeCgroup(live);
      // The first record, replaced, is freed once the end is out, off the path of anyone
      // waiting for it (bench/README.md).
      const replaced = firstRecord;
      if (replaced) this.#cgroupRemovals.trackLater(() => replaced.release().catch(() => {}));
    }
    // The overlay went with the job's mount namespace; its layer is deleted after the end is
    // recorded, off the path of anyone waiting for the job.
    this.#folders.removeScratch(live.folder.paths);
  }

  /**
   * Removes an ended job's cgroups in the background (settled() and shutdown wait for it).
   * They are normally empty; removal kills only when it finds something still inside, and
   * says so in the log when even that fails (ijrd's next start-up tries again: removeStale).
   */
  #removeCgroup(live: LiveJob): void {
    const cgroup = live.cgroup;
    if (!cgroup) return;
    // Later: its rmdirs and its group's release (on this thread) came before the answer that
    // reports the end, and before the client's next request was read, when they ran at once.
    this.#cgroupRemovals.trackLater(() =>
      cgroup.remove().catch(async () => {
        await cgroup.killAll();
        await cgroup.remove();
      }).catch((error) => {
        console.error(
          `ijrd: cannot remove the cgroups of job ${live.status.id}: ${(error as Error).message}`,
        );
      })
    );
  }
}
