/**
 * Spawning a job through libijr's ijr_spawn, reading what its init recorded about the
 * command's end, and reaping and signalling the init through libc. Without live restore the
 * call is synchronous on the JavaScript thread on purpose: the init's parent-death signal is
 * tied to the thread that cloned it, and Deno's blocking-pool threads come and go, while the
 * main thread lives as long as the daemon. A job that outlives ijrd has no such signal, and is
 * spawned on the pool (spawnJobOnPool).
 * @module
 */

import { IjrError } from "../errors/mod.ts";
import { abiConstant, ENUMS, enumValue, structLayout, StructView } from "./abi.ts";
import { describeErrno } from "./errno.ts";
import { keepAlive } from "./keep_alive.ts";
import { cString, lastErrno, openLibc } from "./libc.ts";
import { libijr } from "./loader.ts";
import type { JobNamespaces } from "./namespaces.ts";
import { spawnError } from "./spawn_errors.ts";

/** What ijr_spawn needs, all prepared by the caller. */
export interface SpawnSpec {
  /**
   * Where the job's root is mounted, inside the job's own mount namespace: an empty folder,
   * which any number of jobs may share.
   */
  readonly mountPoint: string;
  /** The rootfs tree: the overlay's read-only lower layer. */
  readonly lowerDir: string;
  /**
   * The job's writable layer: in a tmpfs of this many bytes inside the job's namespace, or
   * in a folder holding empty `upper/` and `work/` folders.
   */
  readonly scratch: { readonly memoryBytes: number } | { readonly dir: string };
  /** Hostname inside the job (the job ID). */
  readonly hostname: string;
  /** File receiving stdout and stderr. */
  readonly outputPath: string;
  /** File the init records the command's end in (see readCommandStatus). */
  readonly endPath: string;
  /**
   * The job keeps running when ijrd ends, by SIGTERM or a crash (ijrd --live-restore);
   * otherwise its init has a parent-death signal and dies with ijrd.
   */
  readonly outlivesIjrd?: boolean;
  /** Working directory inside the job's root. */
  readonly workdir: string;
  readonly argv: readonly string[];
  readonly env: readonly string[];
  /** cgroup v1: the `tasks` files the child writes itself into before anything runs. */
  readonly cgroupTaskFiles: readonly string[];
  /** cgroup v2: directory to clone into (CLONE_INTO_CGROUP). */
  readonly cgroupDir?: string;
  /** Most bytes the job may write to its output (and to any one file); 0 or absent: none. */
  readonly maxOutputBytes?: number;
  /** The job's init stops the job after this many milliseconds; 0 or absent: never. */
  readonly timeoutMs?: number;
  /** Between the init's SIGTERM and its kill, when the init stops the job. */
  readonly graceMs?: number;
  /**
   * The job's user namespace (lib/native/userns.ts: one of the pool's) and the host ids its
   * root maps to; absent: the job runs as the host's root (ijrd --userns=off).
   */
  readonly userns?: { readonly fd: number; readonly hostUid: number; readonly hostGid: number };
  /**
   * A network and an IPC namespace made ahead for this job (lib/native/namespaces.ts), which
   * its child enters; absent: the clone makes new ones. The caller closes them after the call.
   */
  readonly namespaces?: JobNamespaces;
  /** The seccomp filter (struct sock_filter[]); absent: none (ijrd --seccomp off). */
  readonly seccompFilter?: Uint8Array<ArrayBuffer>;
  /**
   * Only mount the job's root and end (a start-up check that the kernel can): spawnJob then
   * returns no job.
   */
  readonly probeMounts?: boolean;
}

function packStrings(values: readonly string[], what: string): Uint8Array<ArrayBuffer> {
  for (const value of values) {
    if (value.includes("\0")) {
      throw new IjrError("INVALID_ARGUMENT", `${what} must not contain NUL bytes`);
    }
  }
  return cString(values.join("\0"));
}

function pointerValue(buffer: Uint8Array<ArrayBuffer>): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}

/** overlayfs takes ',' and ':' as separators in its options: such paths cannot be used. */
function overlayPath(path: string): string {
  if (/[,:\\\n]/.test(path)) {
    throw new IjrError("INVALID_ARGUMENT", `path ${path} cannot be used in an overlay mount`);
  }
  if (new TextEncoder().encode(path).length > abiConstant("IJR_LAYER_PATH_MAX")) {
    throw new IjrError("INVALID_ARGUMENT", `path ${path} is too long for an overlay mount`);
  }
  return path;
}

const decoder = new TextDecoder();

/** Bytes of one struct sock_filter instruction (u16 code, u8 jt, u8 jf, u32 k). */
export const SOCK_FILTER_BYTES = 8;

/** enum ijr_stop_reason, by value. */
const STOP_REASONS: readonly ("none" | InitStopReason)[] = ENUMS.ijr_stop_reason.values;

/**
 * Spawns the job and returns its init's pid, once the command is exec'd; the init records
 * the command's end in `endPath` (see readCommandStatus). A failure to set up or to exec
 * throws an IjrError worded from the step, errno and path the child reported
 * (lib/native/spawn_errors.ts). Synchronous, on the calling thread: what a job without live
 * restore needs (its init's parent-death signal is tied to that thread), and the start-up probe.
 */
export function spawnJob(spec: SpawnSpec): SpawnedJob {
  const call = prepareSpawn(spec);
  let result: number;
  try {
    result = libijr().ijr_spawn(call.request.bytes);
  } finally {
    call.release();
  }
  return spawnResult(spec, call, result);
}

/**
 * spawnJob on Deno's blocking pool, for a job that outlives ijrd (`outlivesIjrd`: no
 * parent-death signal, so the thread that clones its init may come and go). The clone, the
 * namespaces and the mounts (5-6 ms) then no longer hold the JavaScript thread, which answers
 * other calls meanwhile; ijr_spawn is safe on any thread.
 */
export async function spawnJobOnPool(spec: SpawnSpec): Promise<SpawnedJob> {
  if (!spec.outlivesIjrd) {
    throw new IjrError("INTERNAL", "a job with a parent-death signal must be spawned by spawnJob");
  }
  const call = prepareSpawn(spec);
  let result: number;
  try {
    result = await libijr().ijr_spawn_on_pool(call.request.bytes);
  } finally {
    call.release();
  }
  return spawnResult(spec, call, result);
}

/** An ijr_spawn call made ready: the spec's struct and every buffer it points into. */
interface PreparedSpawn {
  readonly request: StructView;
  readonly error: StructView;
  /** Closes the cgroup folder's descriptor; the buffers stay referenced until then. */
  release(): void;
}

function prepareSpawn(spec: SpawnSpec): PreparedSpawn {
  const O_DIRECTORY = 0o200000;
  const O_RDONLY = 0;
  const O_CLOEXEC = 0o2000000;
  const libc = openLibc();
  let cgroupFd = -1;
  if (spec.cgroupDir !== undefined) {
    cgroupFd = libc.open(cString(spec.cgroupDir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgroupFd < 0) {
      const reason = describeErrno(lastErrno());
      throw new IjrError("INTERNAL", `cannot open cgroup ${spec.cgroupDir}: ${reason}`);
    }
  }
  // Every buffer stays referenced until ijr_spawn returns (release() below uses them).
  const scratchDir = "dir" in spec.scratch ? cString(overlayPath(spec.scratch.dir)) : undefined;
  const strings = {
    mountPoint: cString(overlayPath(spec.mountPoint)),
    lower: cString(overlayPath(spec.lowerDir)),
    hostname: cString(spec.hostname),
    output: cString(spec.outputPath),
    end: cString(spec.endPath),
    workdir: cString(spec.workdir),
    argv: packStrings(spec.argv, "arguments"),
    env: packStrings(spec.env, "environment entries"),
    tasks: packStrings(spec.cgroupTaskFiles, "cgroup paths"),
  };
  const error = new StructView("ijr_spawn_error");
  const request = new StructView("ijr_spawn_spec");
  request.set("mount_point", pointerValue(strings.mountPoint));
  request.set("lower_dir", pointerValue(strings.lower));
  request.set("scratch_dir", scratchDir ? pointerValue(scratchDir) : 0n);
  request.set("scratch_bytes", "memoryBytes" in spec.scratch ? spec.scratch.memoryBytes : 0);
  request.set("hostname", pointerValue(strings.hostname));
  request.set("output_path", pointerValue(strings.output));
  request.set("end_path", pointerValue(strings.end));
  request.set("workdir", pointerValue(strings.workdir));
  request.set("argv", pointerValue(strings.argv));
  request.set("argc", spec.argv.length);
  request.set("envp", pointerValue(strings.env));
  request.set("envc", spec.env.length);
  request.set("cgroup_tasks", pointerValue(strings.tasks));
  request.set("cgroup_tasks_count", spec.cgroupTaskFiles.length);
  request.set("cgroup_dir_fd", cgroupFd);
  request.set(
    "flags",
    (spec.outlivesIjrd ? 0 : abiConstant("IJR_SPAWN_FLAG_PARENT_DEATH_SIGNAL")) |
      (spec.probeMounts ? abiConstant("IJR_SPAWN_FLAG_PROBE_MOUNTS") : 0),
  );
  request.set("userns_fd", spec.userns?.fd ?? -1);
  request.set("net_ns_fd", spec.namespaces?.netFd ?? -1);
  request.set("ipc_ns_fd", spec.namespaces?.ipcFd ?? -1);
  request.set("host_uid", spec.userns?.hostUid ?? 0);
  request.set("host_gid", spec.userns?.hostGid ?? 0);
  const filter = spec.seccompFilter;
  request.set("seccomp_filter", filter ? pointerValue(filter) : 0n);
  request.set("seccomp_filter_len", filter ? filter.length / SOCK_FILTER_BYTES : 0);
  request.set("max_output_bytes", spec.maxOutputBytes ?? 0);
  request.set("timeout_ms", spec.timeoutMs ?? 0);
  request.set("grace_ms", spec.graceMs ?? 0);
  request.set("error", pointerValue(error.bytes));
  return {
    request,
    error,
    release() {
      if (cgroupFd >= 0) libc.close(cgroupFd);
      // Used after the call, whichever thread made it: nothing it points into is collected
      // while the C side may still read it.
      keepAlive(...Object.values(strings), scratchDir, filter, request, error);
    },
  };
}

function spawnResult(spec: SpawnSpec, call: PreparedSpawn, result: number): SpawnedJob {
  if (result > 0) return { pid: result };
  if (result === 0 && spec.probeMounts) return { pid: 0 };
  const errno = Number(call.error.get("errno_value")) || -result;
  throw spawnError(
    Number(call.error.get("step")),
    errno,
    decoder.decode(call.error.text("detail")),
  );
}

/** A spawned job's init. */
export interface SpawnedJob {
  readonly pid: number;
}

/** Why the init stopped the job itself: its timeout passed, or its output reached the limit. */
export type InitStopReason = "timeout" | "output_limit";

/** How the command ended, with what the init adds: why it stopped the job, and when. */
export type CommandEnd = ({ readonly exitCode: number } | { readonly signal: number }) & {
  /** Set when the init stopped the job (SIGTERM, grace, kill) rather than a request. */
  readonly stoppedBy?: InitStopReason;
  /** When the init saw the command end. */
  readonly endedAt?: Date;
};

/**
 * What the init recorded about the command: how it ended, or why the record cannot be
 * trusted (`invalid`); undefined when it recorded nothing (the init was killed first: stop
 * after the grace period, or the OOM killer).
 */
export type CommandStatus = CommandEnd | { readonly invalid: string };

/**
 * Reads what the init recorded in the job's end file once the init has ended, and validates
 * it (parseCommandStatus). Undefined when nothing was recorded (the file is empty, zeros or
 * not there); a file that cannot be read is `invalid`, with the reason.
 */
export function readCommandStatus(endPath: string): CommandStatus | undefined {
  // Room for more than one record: anything past the first is a sign of forgery, not a
  // detail, and a file larger than that is not read whole.
  const room = structLayout("ijr_init_status").size * 2;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    const file = Deno.openSync(endPath, { read: true });
    try {
      const buffer = new Uint8Array(room);
      let got = 0;
      for (;;) {
        const n = file.readSync(buffer.subarray(got));
        if (n === null || n === 0) break;
        got += n;
        if (got === room) break;
      }
      bytes = buffer.subarray(0, got);
    } finally {
      file.close();
    }
  } catch (error) {
    // No file: an init of a protocol before end files; nothing was recorded.
    if (error instanceof Deno.errors.NotFound) return undefined;
    return { invalid: `the end file cannot be read: ${(error as Error).message}` };
  }
  // Zeros: the file as it was made (lib/job/job_folders.ts), nothing recorded over them.
  return bytes.every((byte) => byte === 0) ? undefined : parseCommandStatus(bytes);
}

/**
 * Validates the bytes the init sent: exactly one struct ijr_init_status of this protocol
 * version, an exit status 0..255 or a signal 1..64, nothing else. Anything else is reported
 * as `invalid` with the reason, never taken at its word.
 */
export function parseCommandStatus(bytes: Uint8Array<ArrayBuffer>): CommandStatus {
  const size = structLayout("ijr_init_status").size;
  if (bytes.length !== size) {
    return { invalid: `the status report has ${bytes.length} bytes, not ${size}` };
  }
  const status = new StructView("ijr_init_status", bytes);
  if (status.get("magic") !== abiConstant("IJR_INIT_STATUS_MAGIC")) {
    return { invalid: "the status report has a wrong magic number" };
  }
  const version = status.get("version");
  if (version !== abiConstant("IJR_INIT_PROTOCOL_VERSION")) {
    return { invalid: `the status report has protocol version ${version}` };
  }
  if (status.get("reserved") !== 0) return { invalid: "the status report's reserved field is set" };
  const reason = Number(status.get("reason"));
  const stoppedBy = STOP_REASONS[reason];
  if (stoppedBy === undefined) return { invalid: `the status report has stop reason ${reason}` };
  const seconds = status.get("end_sec") as bigint;
  const nanos = status.get("end_nsec") as bigint;
  if (seconds <= 0n || seconds > 1n << 40n || nanos < 0n || nanos > 999_999_999n) {
    return { invalid: `the status report has end time ${seconds}.${nanos}` };
  }
  const extra = {
    ...(stoppedBy === "none" ? {} : { stoppedBy }),
    endedAt: new Date(Number(seconds) * 1000 + Math.floor(Number(nanos) / 1e6)),
  };
  const kind = status.get("kind");
  const value = Number(status.get("value"));
  if (kind === enumValue("ijr_end_kind", "exit")) {
    return value >= 0 && value <= 255
      ? { exitCode: value, ...extra }
      : { invalid: `the status report has exit status ${value}` };
  }
  if (kind === enumValue("ijr_end_kind", "signal")) {
    return value >= 1 && value <= 64
      ? { signal: value, ...extra }
      : { invalid: `the status report has signal ${value}` };
  }
  return { invalid: `the status report has kind ${kind}` };
}

/** A reaped process: exit code or terminating signal. */
export interface WaitResult {
  readonly exitCode?: number;
  readonly signal?: number;
}

/** Reaps `pid` if it has ended (WNOHANG): the result, or undefined while it runs. */
export function reapIfEnded(pid: number): WaitResult | undefined {
  const status = new Int32Array(1);
  const WNOHANG = 1;
  const got = openLibc().waitpid(pid, new Uint8Array(status.buffer), WNOHANG);
  if (got === 0) return undefined;
  if (got < 0) {
    // ECHILD: already reaped elsewhere; report it as ended without a status.
    return {};
  }
  const raw = status[0];
  const termSignal = raw & 0x7f;
  if (termSignal === 0) return { exitCode: (raw >> 8) & 0xff };
  return { signal: termSignal };
}

/** Sends a signal to a pid; false when it no longer exists. */
export function signalProcess(pid: number, signal: number): boolean {
  return openLibc().kill(pid, signal) === 0;
}
