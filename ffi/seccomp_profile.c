/*
 * The default seccomp filter of every job: an allowlist in the spirit of the OCI default
 * profile Docker ships (for a container without CAP_SYS_ADMIN), compiled once per daemon into
 * classic BPF by IJR's own compiler (ffi/bpf_tree.c), and installed by each job's child with
 * the raw system call (ffi/job_seccomp.c). libseccomp (linked statically: libijr.so keeps no
 * runtime dependency) only names the calls: its number for each name on each architecture.
 *
 * Architectures: x86_64 and 32-bit x86 programs (as Docker); x32 calls get ENOSYS. Denied
 * calls return EPERM. Calls newer than the filter (numbers above every call libseccomp knows)
 * return ENOSYS, so that C libraries fall back to older calls as they do under runc; clone3
 * returns ENOSYS too, so they fall back to clone, whose flags the filter can see: clone with
 * any namespace flag is EPERM, like unshare and setns. socket is allowed for every family but
 * AF_VSOCK (vsock reaches the hypervisor past the job's network namespace); personality only
 * for the values Docker allows. Both arguments are 32-bit in the kernel, and the filter
 * compares their lower halves only: a 64-bit comparison (libseccomp's) let
 * socket(1 << 32 | AF_VSOCK) through. 32-bit x86's socketcall carries its arguments in memory
 * the filter cannot read, so socket through it gets ENOSYS (a C library with the direct call
 * uses that instead); its other socket calls are allowed.
 *
 * Beyond Docker's list, a job is also denied io_uring (a large attack surface of its own),
 * ptrace and process_vm_readv/writev, name_to_handle_at, and adjtimex/clock_adjtime.
 */
#include "libijr.h"

#include "bpf_tree.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>

/* Allowed for every job, with any arguments. */
static const char *const ALLOWED[] = {
    "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "capget", "capset",
    "chdir", "chmod", "chown", "chroot", "clock_getres", "clock_gettime", "clock_nanosleep",
    "close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve",
    "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl",
    "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
    "fstat", "fstatfs", "fsync", "ftruncate", "futex", "futex_waitv", "futimesat", "getcpu",
    "getcwd", "getdents", "getdents64", "getegid", "geteuid", "getgid", "getgroups",
    "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresuid", "getrlimit", "get_robust_list", "getrusage",
    "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
    "getuid", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
    "ioprio_get", "ioprio_set", "io_setup", "io_submit", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lgetxattr", "link",
    "linkat", "listen", "listxattr", "llistxattr", "lremovexattr", "lseek", "lsetxattr",
    "lstat", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "modify_ldt",
    "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend",
    "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "nanosleep", "newfstatat", "open", "openat", "openat2", "pause",
    "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
    "process_mrelease", "pselect6", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
    "readlink", "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages",
    "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_getaffinity",
    "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
    "semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto", "setfsgid",
    "setfsuid", "setgid", "setgroups", "setitimer", "setpgid", "setpriority", "setregid",
    "setresgid", "setresuid", "setreuid", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setxattr", "shmat",
    "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
    "socketpair", "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create",
    "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate", "umask", "uname",
    "unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4",
    "waitid", "write", "writev",
    /* newer calls C libraries use when the kernel has them */
    "fchmodat2", "futex_wake", "futex_wait", "futex_requeue", "cachestat", "map_shadow_stack",
    /* 32-bit x86 names of the same calls (32-bit programs run on x86_64 hosts) */
    "_llseek", "_newselect", "chown32", "clock_gettime64", "clock_nanosleep_time64",
    "fadvise64_64", "fchown32", "fcntl64", "fstat64", "fstatat64", "fstatfs64",
    "ftruncate64", "futex_time64", "getegid32", "geteuid32", "getgid32", "getgroups32",
    "getresgid32", "getresuid32", "getuid32", "io_pgetevents_time64", "ipc", "lchown32",
    "lstat64", "mmap2", "mq_timedreceive_time64", "mq_timedsend_time64", "ppoll_time64",
    "pselect6_time64", "recv", "recvmmsg_time64", "rt_sigtimedwait_time64",
    "sched_rr_get_interval_time64", "semtimedop_time64", "send", "sendfile64", "setfsgid32",
    "setfsuid32", "setgid32", "setgroups32", "setregid32", "setresgid32", "setresuid32",
    "setreuid32", "setuid32", "sigprocmask", "sigreturn", "stat64", "statfs64",
    "timer_gettime64", "timer_settime64", "timerfd_gettime64", "timerfd_settime64",
    "truncate64", "ugetrlimit", "utimensat_time64", "waitpid", "clock_getres_time64",
    NULL,
};

/* The namespace flags of clone(2): a job makes no namespace of its own. */
#define NAMESPACE_FLAGS                                                                   \
  (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |            \
   CLONE_NEWPID | CLONE_NEWNET)

/* personality(2) values Docker's profile allows: PER_LINUX, PER_LINUX32, UNAME26 with each,
 * and the query 0xffffffff. */
static const uint32_t PERSONALITIES[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

#define AF_VSOCK_FAMILY 40
#define SOCKETCALL_SOCKET 1 /* socketcall's call number for socket (linux/net.h SYS_SOCKET) */

/* The calls whose verdict is not a plain allow. */
static const struct {
  const char *name;
  enum ijr_seccomp_verdict verdict;
} SPECIAL[] = {
    {"clone", IJR_SECCOMP_CLONE},           {"clone3", IJR_SECCOMP_ENOSYS},
    {"socket", IJR_SECCOMP_SOCKET},         {"socketcall", IJR_SECCOMP_SOCKETCALL},
    {"personality", IJR_SECCOMP_PERSONALITY},
};

/* The highest call number libseccomp knows for `arch`: anything above is newer than the
 * filter. */
static uint32_t highest_known(uint32_t arch) {
  uint32_t highest = 0;
  for (uint32_t nr = 0; nr < 1024; nr++) {
    char *name = seccomp_syscall_resolve_num_arch(arch, (int)nr);
    if (name) {
      highest = nr;
      free(name);
    }
  }
  return highest;
}

/* The policy's verdict for a call named `name`. */
static uint8_t verdict_of(const char *name) {
  for (size_t i = 0; i < sizeof(SPECIAL) / sizeof(SPECIAL[0]); i++) {
    if (strcmp(SPECIAL[i].name, name) == 0) return (uint8_t)SPECIAL[i].verdict;
  }
  for (const char *const *allowed = ALLOWED; *allowed; allowed++) {
    if (strcmp(*allowed, name) == 0) return IJR_SECCOMP_ALLOW;
  }
  return IJR_SECCOMP_DENY;
}

int32_t ijr_seccomp_policy(uint32_t arch, uint8_t *out, uint64_t capacity) {
  if (arch != AUDIT_ARCH_X86_64 && arch != AUDIT_ARCH_I386) return -EINVAL;
  uint32_t count = highest_known(arch) + 1;
  if (capacity < count) return -ENOSPC;
  /* From each number to its name, not the other way: libseccomp names 32-bit x86's socket
   * and IPC calls after their multiplexers (socketcall, ipc), and would miss the direct calls
   * (socket is 359 there) that C libraries use when the kernel has them. */
  for (uint32_t nr = 0; nr < count; nr++) {
    char *name = seccomp_syscall_resolve_num_arch(arch, (int)nr);
    out[nr] = name ? verdict_of(name) : IJR_SECCOMP_DENY;
    free(name);
  }
  return (int32_t)count;
}

int32_t ijr_seccomp_default_filter(uint8_t *out, uint64_t capacity) {
  /* Native x86_64, plus 32-bit x86 programs, as Docker allows them. x32 is left out: its
   * calls are disabled in most distributions' kernels anyway, and every architecture makes
   * the program (compiled by the kernel for every job) longer. */
  static const uint32_t ARCHES[2] = {AUDIT_ARCH_X86_64, AUDIT_ARCH_I386};
  uint8_t verdicts[2][1024];
  struct bpf_arch_policy policies[2];
  for (int i = 0; i < 2; i++) {
    int32_t count = ijr_seccomp_policy(ARCHES[i], verdicts[i], sizeof(verdicts[i]));
    if (count < 0) return count;
    policies[i] = (struct bpf_arch_policy){
        .audit_arch = ARCHES[i],
        /* x32's calls come as x86_64's with this bit set: ENOSYS, as a kernel without x32 */
        .reject_mask = ARCHES[i] == AUDIT_ARCH_X86_64 ? 0x40000000 : 0,
        .verdicts = verdicts[i],
        .count = (uint32_t)count,
    };
  }
  const struct bpf_argument_rules rules = {
      .clone_denied_flags = NAMESPACE_FLAGS,
      .socket_denied_family = AF_VSOCK_FAMILY,
      .socketcall_enosys_call = SOCKETCALL_SOCKET,
      .personalities = PERSONALITIES,
      .personality_count = sizeof(PERSONALITIES) / sizeof(PERSONALITIES[0]),
  };
  return bpf_compile_policy(policies, 2, &rules, (struct sock_filter *)out,
                            (size_t)(capacity / sizeof(struct sock_filter)));
}
