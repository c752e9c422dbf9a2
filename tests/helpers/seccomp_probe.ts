/**
 * What `probe syscalls` (tests/fixtures/probe.c) prints under the jobs' default seccomp filter,
 * one `name=RESULT` line per call in the probe's order: shared by the v1 host tests and the
 * cgroup v2 lane, so the two check the same filter the same way.
 * @module
 */

/** The calls the filter denies with EPERM, in the probe's order. */
const DENIED = [
  "kexec_load",
  "kexec_file_load",
  "init_module",
  "finit_module",
  "delete_module",
  "bpf",
  "perf_event_open",
  "userfaultfd",
  "keyctl",
  "add_key",
  "request_key",
  "open_by_handle_at",
  "name_to_handle_at",
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
  "ptrace",
  "process_vm_readv",
  "process_vm_writev",
  "mount",
  "umount2",
  "pivot_root",
  "swapon",
  "swapoff",
  "reboot",
  "syslog",
  "acct",
  "settimeofday",
  "clock_settime",
  "adjtimex",
  "unshare",
  "unshare_mount",
  "clone_newuser",
  "clone_newnet",
];

/** True when the running kernel is `major.minor` or later. */
function kernelAtLeast(major: number, minor: number): boolean {
  const [have, haveMinor] = Deno.osRelease().split(/[.-]/).map(Number);
  return have > major || (have === major && haveMinor >= minor);
}

/** The probe's lines under the filter, on the running kernel. */
export function expectedUnderFilter(): string[] {
  return [
    ...DENIED.map((name) => `${name}=EPERM`),
    "clone3=ENOSYS",
    "personality_exec=EPERM",
    "socket_vsock=EPERM",
    "socket_vsock_high_bits=EPERM",
    "i386_socket_vsock=EPERM",
    "i386_socketcall_socket=ENOSYS",
    "newer_than_filter=ENOSYS",
    "getpid=OK",
    "fork=OK",
    "personality_query=OK",
    "personality_query_high_bits=OK",
    "socket_inet=OK",
    "pipe2=OK",
    "chroot=OK",
    "i386_socket_inet=OK",
    "i386_socketcall_connect=EBADF",
    // The filter allows fchmodat2; Linux has it from 6.6 (older kernels say ENOSYS).
    `fchmodat2=${kernelAtLeast(6, 6) ? "OK" : "ENOSYS"}`,
  ];
}
