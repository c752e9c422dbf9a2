/**
 * Spawning a job through libijr's ijr_spawn, and reaping and signalling its init through
 * libc. The call is synchronous on the JavaScript thread on purpose: the init's
 * parent-death signal is tied to the thread that cloned it, and Deno's blocking-pool
 * threads come and go, while the main thread lives as long as the daemon.
 * @module
 */

import { IjrError } from "../errors/mod.ts";
import { cString, lastErrno, openLibc } from "./libc.ts";
import { libijr } from "./loader.ts";

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
  /** Working directory inside the job's root. */
  readonly workdir: string;
  readonly argv: readonly string[];
  readonly env: readonly string[];
  /** cgroup v1: cgroup.procs files to join before anything runs. */
  readonly cgroupProcsFiles: readonly string[];
  /** cgroup v2: directory to clone into (CLONE_INTO_CGROUP). */
  readonly cgroupDir?: string;
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
  return path;
}

/**
 * Spawns the job and returns its init's pid, once the command is exec'd, and the read end of
 * the pipe the init reports the command's final status on (see readCommandStatus). A failure
 * to set up or to exec throws an IjrError with the child's precise message:
 * FAILED_PRECONDITION for problems with the command or rootfs, INTERNAL for the rest.
 */
export function spawnJob(spec: SpawnSpec): SpawnedJob {
  const O_DIRECTORY = 0o200000;
  const O_RDONLY = 0;
  const O_CLOEXEC = 0o2000000;
  const libc = openLibc();
  let cgroupFd = -1;
  if (spec.cgroupDir !== undefined) {
    cgroupFd = libc.open(cString(spec.cgroupDir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgroupFd < 0) {
      throw new IjrError("INTERNAL", `cannot open cgroup ${spec.cgroupDir}: errno ${lastErrno()}`);
    }
  }
  // Every buffer stays referenced until ijr_spawn returns.
  const scratchDir = "dir" in spec.scratch ? cString(overlayPath(spec.scratch.dir)) : undefined;
  const strings = {
    mountPoint: cString(overlayPath(spec.mountPoint)),
    lower: cString(overlayPath(spec.lowerDir)),
    hostname: cString(spec.hostname),
    output: cString(spec.outputPath),
    workdir: cString(spec.workdir),
    argv: packStrings(spec.argv, "arguments"),
    env: packStrings(spec.env, "environment entries"),
    procs: packStrings(spec.cgroupProcsFiles, "cgroup paths"),
  };
  const error = new Uint8Array(256);
  const STATUS_FD_SLOT = 6;
  const slots = new BigInt64Array([
    pointerValue(strings.mountPoint),
    pointerValue(strings.lower),
    scratchDir ? pointerValue(scratchDir) : 0n,
    "memoryBytes" in spec.scratch ? BigInt(spec.scratch.memoryBytes) : 0n,
    pointerValue(strings.hostname),
    pointerValue(strings.output),
    -1n, // out: the status pipe's read end
    pointerValue(strings.workdir),
    pointerValue(strings.argv),
    BigInt(spec.argv.length),
    pointerValue(strings.env),
    BigInt(spec.env.length),
    pointerValue(strings.procs),
    BigInt(spec.cgroupProcsFiles.length),
    BigInt(cgroupFd),
    pointerValue(error),
    BigInt(error.length),
  ]);
  let result: number;
  try {
    result = libijr().ijr_spawn(new Uint8Array(slots.buffer));
  } finally {
    if (cgroupFd >= 0) libc.close(cgroupFd);
  }
  if (result > 0) return { pid: result, statusFd: Number(slots[STATUS_FD_SLOT]) };
  const message = new TextDecoder().decode(error.subarray(0, error.indexOf(0)));
  const userProblem = /^(command |interpreter of the command |working directory |the rootfs )/
    .test(message);
  throw new IjrError(
    userProblem ? "FAILED_PRECONDITION" : "INTERNAL",
    message || `spawn failed: errno ${-result}`,
  );
}

/** A spawned job's init. */
export interface SpawnedJob {
  readonly pid: number;
  /** Non-blocking read end of the init's status pipe; close it with readCommandStatus. */
  readonly statusFd: number;
}

/**
 * Reads what the init reported about the command ("exit N" or "signal N") once the init has
 * ended, and closes the pipe. Undefined when the init died before it could report (killed
 * after the grace period, or by the OOM killer).
 */
export function readCommandStatus(statusFd: number): WaitResult | undefined {
  const libc = openLibc();
  const buffer = new Uint8Array(32);
  const got = Number(libc.read(statusFd, buffer, BigInt(buffer.length)));
  libc.close(statusFd);
  if (got <= 0) return undefined;
  const [kind, value] = new TextDecoder().decode(buffer.subarray(0, got)).trim().split(" ");
  if (kind === "exit") return { exitCode: Number(value) };
  if (kind === "signal") return { signal: Number(value) };
  return undefined;
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
