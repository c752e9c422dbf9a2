/*
 * ijr_spawn: the parent side of starting a job, and the child's checklist (in the style of
 * runc's standard_init_linux.go: one step per line, in order).
 */
#include "job_spawn.h"
#include "job_child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* Splits `count` NUL-separated strings into a NULL-terminated array (parent side: malloc is
 * fine here, the child only reads the copy it inherits). */
static char **split_strings(const char *packed, uint64_t count) {
  char **list = calloc(count + 1, sizeof(char *));
  if (!list) return NULL;
  for (uint64_t i = 0; i < count; i++) {
    list[i] = (char *)packed;
    packed += strlen(packed) + 1;
  }
  return list;
}

static void copy_message(const struct ijr_spawn_spec *spec, const char *text) {
  char *out = (char *)(uintptr_t)spec->error_buf;
  size_t len = (size_t)spec->error_buf_len;
  if (!out || len == 0) return;
  size_t n = strlen(text);
  if (n >= len) n = len - 1;
  memcpy(out, text, n);
  out[n] = '\0';
}

/* The init program in a sealed memfd, made once: each job execs it with execveat. */
static int init_memfd = -1;

static int init_program_fd(void) {
  if (init_memfd >= 0) return init_memfd;
  int fd = memfd_create("ijr-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  const unsigned char *p = ijr_init_blob;
  size_t left = (size_t)(ijr_init_blob_end - ijr_init_blob);
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      close(fd);
      return -err;
    }
    p += n;
    left -= (size_t)n;
  }
  /* Nobody, not even a later bug in this process, can change what every job runs. */
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  init_memfd = fd;
  return fd;
}

/* Writes a small non-negative number as decimal text (no stdio in the child). */
static void format_fd(char out[12], int value) {
  char digits[12];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value && n < 11);
  int i = 0;
  while (n > 0) out[i++] = digits[--n];
  out[i] = '\0';
}

/* The child runs with CLONE_VM|CLONE_VFORK: it shares the daemon's memory (the daemon's
 * thread waits until the init is exec'd) and must write to nothing but its own stack. */
struct child_start {
  struct ijr_child *child;
  int use_cgroup_ns_unshare;
  int init_fd;
};

/* The child: set up the job's world step by step, then exec the job's init. */
static void __attribute__((noreturn)) child_main(const struct child_start *start) {
  struct ijr_child *child = start->child;
  /* Die with the daemon: a job must not outlive the process that supervises it. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    ijr_report(child->error_fd, errno, "prctl(PR_SET_PDEATHSIG)", "", "");
    _exit(125);
  }
  if (ijr_join_cgroups(child) != 0) _exit(125);
  /* v1: the cgroup namespace root is the cgroup at unshare time, so join first. */
  if (start->use_cgroup_ns_unshare && unshare(CLONE_NEWCGROUP) != 0) {
    ijr_report(child->error_fd, errno, "unshare(CLONE_NEWCGROUP)", "", "");
    _exit(125);
  }
  if (sethostname(child->hostname, strlen(child->hostname)) != 0) {
    ijr_report(child->error_fd, errno, "sethostname", "", "");
    _exit(125);
  }
  if (ijr_setup_mounts(child) != 0) _exit(125);
  if (ijr_mask_proc(child) != 0) _exit(125);
  if (ijr_loopback_up(child) != 0) _exit(125);
  if (ijr_drop_capabilities(child) != 0) _exit(125);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    ijr_report(child->error_fd, errno, "prctl(PR_SET_NO_NEW_PRIVS)", "", "");
    _exit(125);
  }
  /* The init inherits these three descriptors; it marks them close-on-exec again itself. */
  int fds[3] = {child->status_fd, child->error_fd, child->output_fd};
  char names[3][12];
  for (int i = 0; i < 3; i++) {
    fcntl(fds[i], F_SETFD, 0);
    format_fd(names[i], fds[i]);
  }
  size_t argc = 0;
  while (child->argv[argc]) argc++;
  char *init_argv[IJR_SPAWN_MAX_STRINGS + 6];
  init_argv[0] = "ijr-init";
  init_argv[1] = names[0];
  init_argv[2] = names[1];
  init_argv[3] = names[2];
  init_argv[4] = (char *)child->workdir;
  for (size_t i = 0; i <= argc; i++) init_argv[5 + i] = child->argv[i];
  syscall(SYS_execveat, start->init_fd, "", init_argv, child->envp, AT_EMPTY_PATH);
  ijr_report(child->error_fd, errno, "cannot start the job's init", "", "");
  _exit(125);
}

static int child_entry(void *arg) {
  child_main(arg);
}

/* ffi/clone3_run.S: clone3 that runs fn(arg) on the child's new stack. */
long ijr_clone3_run(struct clone_args *args, size_t size, int (*fn)(void *), void *arg)
    __attribute__((visibility("hidden")));

int32_t ijr_spawn(struct ijr_spawn_spec *spec) {
  if (spec->argc == 0 || spec->argc > IJR_SPAWN_MAX_STRINGS || spec->envc > IJR_SPAWN_MAX_STRINGS ||
      spec->cgroup_procs_count > 64) {
    copy_message(spec, "invalid spawn spec: argv must have 1..4096 entries, env at most 4096");
    return -EINVAL;
  }
  const char *scratch_dir = (const char *)(uintptr_t)spec->scratch_dir;
  if ((scratch_dir == NULL) == (spec->scratch_bytes == 0)) {
    copy_message(spec, "invalid spawn spec: give a scratch folder or a scratch size, not both");
    return -EINVAL;
  }
  if (strlen((const char *)(uintptr_t)spec->mount_point) > IJR_LAYER_PATH_MAX ||
      strlen((const char *)(uintptr_t)spec->lower_dir) > IJR_LAYER_PATH_MAX ||
      (scratch_dir && strlen(scratch_dir) > IJR_LAYER_PATH_MAX)) {
    copy_message(spec, "the rootfs, scratch or mount point path is too long for an overlay mount");
    return -ENAMETOOLONG;
  }
  struct ijr_child child = {
      .mount_point = (const char *)(uintptr_t)spec->mount_point,
      .lower_dir = (const char *)(uintptr_t)spec->lower_dir,
      .scratch_dir = scratch_dir,
      .scratch_bytes = spec->scratch_bytes,
      .hostname = (const char *)(uintptr_t)spec->hostname,
      .workdir = (const char *)(uintptr_t)spec->workdir,
      .output_fd = -1,
      .status_fd = -1,
      .error_fd = -1,
  };
  char **argv = split_strings((const char *)(uintptr_t)spec->argv, spec->argc);
  char **envp = split_strings((const char *)(uintptr_t)spec->envp, spec->envc);
  char **procs = split_strings((const char *)(uintptr_t)spec->cgroup_procs, spec->cgroup_procs_count);
  int pipe_fds[2] = {-1, -1};
  int status_pipe[2] = {-1, -1};
  void *stack = NULL;
  int32_t result = -ENOMEM;
  if (!argv || !envp || !procs) {
    copy_message(spec, "out of memory preparing the job");
    goto out;
  }
  child.argv = argv;
  child.envp = envp;
  child.cgroup_procs = (const char *const *)procs;

  /* Opened here, before any namespace change, with host paths; CLOEXEC so only the init
   * keeps them (the command gets the output as stdout/stderr through dup2). */
  child.output_fd = open((const char *)(uintptr_t)spec->output_path,
                         O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (child.output_fd < 0) {
    result = -errno;
    copy_message(spec, "cannot open the job's output file");
    goto out;
  }
  /* The command's status travels back through a pipe rather than a file: nothing to create
   * and remove on disk per job, and the bytes wait in the pipe until the daemon reaps the
   * init. Only the read end stays open here, non-blocking (an init that was killed writes
   * nothing). */
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    result = -errno;
    copy_message(spec, "pipe2 for the job's status failed");
    goto out;
  }
  if (fcntl(status_pipe[0], F_SETFL, O_NONBLOCK) != 0) {
    result = -errno;
    copy_message(spec, "cannot make the job's status pipe non-blocking");
    goto out;
  }
  child.status_fd = status_pipe[1];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result = -errno;
    copy_message(spec, "pipe2 failed");
    goto out;
  }
  child.error_fd = pipe_fds[1];
  int init_fd = init_program_fd();
  if (init_fd < 0) {
    result = init_fd;
    copy_message(spec, "cannot prepare the job's init program");
    goto out;
  }

  uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC;
  int v2 = spec->cgroup_dir_fd >= 0;
  if (v2) flags |= CLONE_INTO_CGROUP | CLONE_NEWCGROUP;
  /* CLONE_VM|CLONE_VFORK: no copy of this (large) process's page tables; this thread waits
   * until the child has exec'd the init or exited. The child runs on its own stack. */
  size_t stack_size = 512 * 1024;
  stack = malloc(stack_size);
  if (!stack) {
    copy_message(spec, "out of memory preparing the job");
    goto out;
  }
  struct child_start start = {&child, !v2, init_fd};
  /* Signals stay blocked in the child until the init sets its own mask: a handler of the
   * daemon must never run in a child that shares its memory. */
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  struct clone_args args;
  memset(&args, 0, sizeof(args));
  args.flags = flags | CLONE_VM | CLONE_VFORK;
  args.exit_signal = SIGCHLD;
  args.cgroup = v2 ? (uint64_t)spec->cgroup_dir_fd : 0;
  args.stack = (uint64_t)(uintptr_t)stack;
  args.stack_size = stack_size;
  long pid = ijr_clone3_run(&args, sizeof(args), child_entry, &start);
  if (pid == -ENOSYS && !v2) {
    /* Kernels before 5.3 have no clone3; without cgroup v2 the old call does the same. */
    pid = clone(child_entry, (char *)stack + stack_size,
                (int)(flags | CLONE_VM | CLONE_VFORK) | SIGCHLD, &start);
    if (pid < 0) pid = -errno;
  }
  pthread_sigmask(SIG_SETMASK, &saved, 0);
  if (pid < 0) {
    result = (int32_t)pid;
    copy_message(spec, v2 ? "clone3 into the job's cgroup failed" : "clone failed");
    goto out;
  }

  close(pipe_fds[1]);
  pipe_fds[1] = -1;
  /* EOF without a report: the command was exec'd. A report: the job failed to start, and
   * its init exits; reap it so no zombie is left. */
  struct ijr_report report;
  ssize_t got;
  do {
    got = read(pipe_fds[0], &report, sizeof(report));
  } while (got < 0 && errno == EINTR);
  if (got == (ssize_t)sizeof(report)) {
    report.message[sizeof(report.message) - 1] = '\0';
    copy_message(spec, report.message);
    result = report.err > 0 ? -report.err : -EIO;
    while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR) {
    }
  } else {
    result = (int32_t)pid;
    spec->status_fd_out = status_pipe[0];
    status_pipe[0] = -1;
  }

out:
  if (pipe_fds[0] >= 0) close(pipe_fds[0]);
  if (pipe_fds[1] >= 0) close(pipe_fds[1]);
  if (child.output_fd >= 0) close(child.output_fd);
  if (status_pipe[0] >= 0) close(status_pipe[0]);
  if (status_pipe[1] >= 0) close(status_pipe[1]);
  free(argv);
  free(envp);
  free(procs);
  free(stack);
  return result;
}
