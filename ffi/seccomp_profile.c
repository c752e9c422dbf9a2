/*
 * The default seccomp filter of every job: an allowlist in the spirit of the OCI default
 * profile Docker ships (for a container without CAP_SYS_ADMIN), compiled with libseccomp
 * (linked statically: libijr.so keeps no runtime dependency) once per daemon, and installed
 * by each job's child with the raw system call (ffi/job_seccomp.c).
 *
 * Architectures: x86_64 and 32-bit x86 programs (as Docker); x32 calls get ENOSYS. Denied
 * calls return EPERM. Calls newer than the filter (numbers above every call
 * libseccomp knows) return ENOSYS, so that C libraries fall back to older calls as they do
 * under runc; clone3 returns ENOSYS too, so they fall back to clone, whose flags the filter
 * can see: clone with any namespace flag is EPERM, like unshare and setns. socket is allowed
 * for every family but AF_VSOCK; personality only for the values Docker allows.
 *
 * Beyond Docker's list, a job is also denied io_uring (a large attack surface of its own),
 * ptrace and process_vm_readv/writev, name_to_handle_at, and adjtimex/clock_adjtime.
 */
#include "libijr.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
    "setreuid32", "setuid32", "sigprocmask", "sigreturn", "socketcall", "stat64", "statfs64",
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
static const uint64_t PERSONALITIES[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

#define AF_VSOCK_FAMILY 40

static int add_rules(scmp_filter_ctx ctx) {
  int rc;
  for (const char *const *name = ALLOWED; *name; name++) {
    int nr = seccomp_syscall_resolve_name(*name);
    if (nr == __NR_SCMP_ERROR) continue; /* not a call of this architecture */
    if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) != 0) return rc;
  }
  if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, NAMESPACE_FLAGS, 0))) != 0) {
    return rc;
  }
  if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) != 0) return rc;
  if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_NE, AF_VSOCK_FAMILY))) != 0) {
    return rc;
  }
  for (size_t i = 0; i < sizeof(PERSONALITIES) / sizeof(PERSONALITIES[0]); i++) {
    if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
                               SCMP_A0(SCMP_CMP_EQ, PERSONALITIES[i]))) != 0) {
      return rc;
    }
  }
  return 0;
}

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

/* The stub run before libseccomp's program: on x86_64 (not x32 calls, which the program
 * answers ENOSYS as a foreign architecture) and i386, a call
 * numbered above every call the filter knows returns ENOSYS; everything else goes on to
 * libseccomp's program. Relative jumps only, so the program after it needs no change. */
static size_t enosys_stub(struct sock_filter *out, uint32_t max64, uint32_t max32) {
  const uint32_t enosys = SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA);
  struct sock_filter stub[] = {
      /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 4),
      /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      /* 3 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x40000000, 6, 0), /* x32: libseccomp's */
      /* 4 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, max64, 4, 5),
      /* 5 */ BPF_STMT(BPF_JMP | BPF_JA, 0), /* unreached filler keeps the offsets simple */
      /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 0, 3),
      /* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      /* 8 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, max32, 0, 1),
      /* 9 */ BPF_STMT(BPF_RET | BPF_K, enosys),
      /* 10: libseccomp's program begins */
  };
  memcpy(out, stub, sizeof(stub));
  return sizeof(stub) / sizeof(stub[0]);
}

int32_t ijr_seccomp_default_filter(uint8_t *out, uint64_t capacity) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) return -ENOMEM;
  int rc = 0;
  /* Native x86_64, plus 32-bit x86 programs, as Docker allows them. */
  if ((rc = seccomp_arch_add(ctx, SCMP_ARCH_X86)) != 0 && rc != -EEXIST) goto out;
  /* x32 is left out: its calls are disabled in most distributions' kernels anyway, and every
   * architecture makes the program (compiled by the kernel for every job) longer. A call of
   * an architecture not in the filter gets ENOSYS, as from a kernel without it. */
  if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS))) != 0) goto out;
  /* no_new_privs is set by the child itself, before the filter. */
  if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) != 0) goto out;
  /* A binary tree over the call numbers: a few dozen instructions per call instead of a
   * walk down the whole list. */
  if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) != 0) goto out;
  if ((rc = add_rules(ctx)) != 0) goto out;
  /* libseccomp 2.5 exports to a descriptor only: a memfd, read back. */
  int fd = memfd_create("ijr-seccomp", MFD_CLOEXEC);
  if (fd < 0) {
    rc = -errno;
    goto out;
  }
  rc = seccomp_export_bpf(ctx, fd);
  off_t size = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
  if (rc == 0 && size < 0) rc = -errno;
  const size_t stub_bytes = 10 * sizeof(struct sock_filter);
  if (rc == 0 && (uint64_t)size + stub_bytes > capacity) rc = -ENOSPC;
  if (rc == 0) {
    struct sock_filter stub[10];
    enosys_stub(stub, highest_known(SCMP_ARCH_X86_64), highest_known(SCMP_ARCH_X86));
    memcpy(out, stub, stub_bytes);
    ssize_t got = pread(fd, out + stub_bytes, (size_t)size, 0);
    if (got != size) rc = got < 0 ? -errno : -EIO;
    else rc = (int)(((size_t)size + stub_bytes) / sizeof(struct sock_filter));
  }
  (void)close(fd);
out:
  seccomp_release(ctx);
  return rc;
}
