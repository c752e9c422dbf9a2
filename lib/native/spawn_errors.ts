/**
 * The words for a failed job start. ijr_spawn reports data (the step, the errno, the path or
 * name it was working on; lib/native/abi.ts), and this table turns it into the message and
 * status code a user sees: FAILED_PRECONDITION for what the request or its rootfs got wrong
 * (a command that is not there, a rootfs with a file where /proc must be),
 * RESOURCE_EXHAUSTED for a worker out of something, INTERNAL for the rest.
 * @module
 */

import { type ErrorCode, IjrError } from "../errors/mod.ts";
import { SPAWN_STEPS, type SpawnStep } from "./abi.ts";
import { errnoText, RESOURCE_ERRNOS } from "./errno.ts";

const ENOENT = 2;
const E2BIG = 7;
const ENOEXEC = 8;
const EACCES = 13;
const ENOTDIR = 20;
const EISDIR = 21;

type Wording = (errno: number, detail: string) => readonly [ErrorCode, string];

/** An INTERNAL failure of `what`, or RESOURCE_EXHAUSTED when the worker ran out of something. */
function internal(what: (detail: string) => string): Wording {
  return (errno, detail) => [
    RESOURCE_ERRNOS.has(errno) ? "RESOURCE_EXHAUSTED" : "INTERNAL",
    `${what(detail)}: ${errnoText(errno)}`,
  ];
}

/** A mount point of the job's root: a non-directory there is the rootfs's problem. */
function mountOf(name: string): Wording {
  return (errno, detail) =>
    errno === ENOTDIR
      ? ["FAILED_PRECONDITION", `the rootfs has a non-directory at ${detail}`]
      : internal(() => `cannot mount the job's ${name} at ${detail}`)(errno, detail);
}

const WORDS: Record<SpawnStep, Wording> = {
  validate_spec: internal((d) => `invalid spawn spec (${d})`),
  open_output: internal((d) => `cannot open the job's output file ${d}`),
  open_end_file: internal((d) => `cannot open the job's end file ${d}`),
  make_pipes: internal((d) => `cannot make the job's ${d} pipe`),
  load_init: internal(() => "cannot load the job's init program"),
  allocate_stack: internal(() => "cannot map a stack for the job's child"),
  clone: internal((d) => `${d} of the job's child failed`),
  set_parent_death_signal: internal(() => "cannot set the job's parent-death signal"),
  enter_made_namespaces: internal((d) => `cannot enter the ${d} namespace made for the job`),
  join_cgroups: internal((d) => `cannot join cgroup ${d}`),
  unshare_cgroup_namespace: internal(() => "cannot make the job's cgroup namespace"),
  set_hostname: internal((d) => `cannot set the hostname to ${d}`),
  make_mounts_private: internal(() => "cannot make the job's mounts private"),
  mount_scratch: internal(() => "cannot mount the job's scratch tmpfs"),
  prepare_writable_layer: internal((d) => `cannot make the job's writable layer ${d}`),
  idmap_rootfs: internal((d) => `cannot map the rootfs into the job's user namespace (${d})`),
  inspect_rootfs: internal((d) => `cannot give the job's / the rootfs's owner and mode (${d})`),
  mount_root: internal((d) => `cannot mount the job's root at ${d}`),
  mount_proc: mountOf("/proc"),
  mount_dev: mountOf("/dev"),
  mount_sys: mountOf("/sys"),
  mount_tmp: mountOf("/tmp"),
  pivot_root: internal((d) => `cannot pivot into the job's root ${d}`),
  mask_paths: internal((d) => `cannot mask ${d}`),
  loopback_up: internal(() => "cannot bring up the job's loopback interface"),
  open_network: internal((d) => `cannot open the job's network to its root (${d})`),
  arrange_descriptors: internal((d) => `cannot arrange the job's descriptors (${d})`),
  enter_user_namespace: internal((d) => `cannot enter the job's user namespace (${d})`),
  drop_capabilities: internal((d) => `cannot drop the job's capabilities (${d})`),
  set_no_new_privs: internal(() => "cannot set no_new_privs"),
  set_resource_limits: internal((d) => `cannot set the job's resource limit ${d}`),
  install_seccomp: internal((d) => `cannot install the job's seccomp filter (${d})`),
  exec_init: internal(() => "cannot start the job's init"),
  init_arguments: internal((d) => `the job's init refused its arguments (protocol ${d})`),
  init_protect: internal((d) => `the job's init cannot protect itself (${d})`),
  init_signals: internal((d) => `the job's init cannot take its signals (${d})`),
  start_command: internal((d) => `the job's init cannot start the command (${d})`),
  command_descriptors: internal((d) => `cannot prepare the command's process (${d})`),
  command_workdir: (errno, detail) => [
    "FAILED_PRECONDITION",
    `working directory not usable in rootfs: ${detail}: ${errnoText(errno)}`,
  ],
  exec_command: (errno, detail) => {
    const text = errnoText(errno);
    switch (errno) {
      case ENOENT:
        return ["FAILED_PRECONDITION", `command not found in rootfs: ${detail}: ${text}`];
      case EISDIR:
        return ["FAILED_PRECONDITION", `command is a directory: ${detail}`];
      case EACCES:
        return ["FAILED_PRECONDITION", `command is not executable: ${detail}: ${text}`];
      case ENOEXEC:
        return [
          "FAILED_PRECONDITION",
          `command is not in an executable format (no #! line?): ${detail}: ${text}`,
        ];
      case E2BIG:
        return ["INVALID_ARGUMENT", `argv and env are too large to start ${detail}: ${text}`];
    }
    return internal(() => `cannot execute ${detail}`)(errno, detail);
  },
  exec_interpreter: (errno, detail) => [
    "FAILED_PRECONDITION",
    `interpreter of the command not found in rootfs: ${detail}: ${errnoText(errno)}`,
  ],
  search_path: (errno, detail) => [
    "FAILED_PRECONDITION",
    `command not found in rootfs: ${detail} (searched PATH): ${errnoText(errno)}`,
  ],
};

/** The error a user sees for a spawn that failed at `step` (an index into SPAWN_STEPS). */
export function spawnError(step: number, errno: number, detail: string): IjrError {
  const name = SPAWN_STEPS[step];
  if (name === undefined) {
    return new IjrError("INTERNAL", `the job failed to start at unknown step ${step}`);
  }
  const [code, message] = WORDS[name](errno, detail);
  return new IjrError(code, message);
}
