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

/* Where the kernel finds this process's command line and environment (fields 48-51 of
 * /proc/self/stat), read by the parent before it clones. */
struct identity_region {
  unsigned long arg_start, arg_end, env_start, env_end;
};

static int read_identity_region(struct identity_region *region) {
  char stat[4096];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, stat, sizeof(stat) - 1);
  close(fd);
  if (n <= 0) return -1;
  stat[n] = '\0';
  char *p = strrchr(stat, ')'); /* the command name may hold spaces and parentheses */
  if (!p) return -1;
  p += 2; /* field 3, the state: one letter */
  if (*p == '\0') return -1;
  p++;
  while (*p == ' ') p++;
  unsigned long field[52] = {0};
  for (int i = 4; i <= 51 && *p; i++) {
    field[i] = strtoul(p, &p, 10);
    while (*p == ' ') p++;
  }
  region->arg_start = field[48];
  region->arg_end = field[49];
  region->env_start = field[50];
  region->env_end = field[51];
  return region->arg_end > region->arg_start && region->env_end >= region->env_start ? 0 : -1;
}

/* The init is a copy of the daemon, so /proc/1/cmdline and /proc/1/environ would show the
 * daemon's command line and environment (secrets included) to the job. The child's copy of
 * that memory is private (copy-on-write): overwrite it with the name "ijr-init" and zeros.
 * (prctl(PR_SET_MM) would move the regions instead, but needs CAP_SYS_RESOURCE.) */
static void hide_daemon_identity(const struct identity_region *region) {
  static const char name[] = "ijr-init";
  prctl(PR_SET_NAME, name, 0, 0, 0);
  if (region->arg_end <= region->arg_start) return;
  memset((void *)region->env_start, 0, region->env_end - region->env_start);
  size_t size = region->arg_end - region->arg_start;
  memset((void *)region->arg_start, 0, size);
  memcpy((void *)region->arg_start, name, size < sizeof(name) ? size - 1 : sizeof(name) - 1);
}

/* The child: set up the job's world step by step, then become its init. */
static void __attribute__((noreturn)) child_main(struct ijr_child *child, int use_cgroup_ns_unshare,
                                                const struct identity_region *region) {
  /* Die with the daemon: a job must not outlive the process that supervises it. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    ijr_report(child->error_fd, errno, "prctl(PR_SET_PDEATHSIG)", "", "");
    _exit(125);
  }
  hide_daemon_identity(region);
  if (ijr_join_cgroups(child) != 0) _exit(125);
  /* v1: the cgroup namespace root is the cgroup at unshare time, so join first. */
  if (use_cgroup_ns_unshare && unshare(CLONE_NEWCGROUP) != 0) {
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
  ijr_run_init(child);
}

int32_t ijr_spawn(const struct ijr_spawn_spec *spec) {
  if (spec->argc == 0 || spec->argc > IJR_SPAWN_MAX_STRINGS || spec->envc > IJR_SPAWN_MAX_STRINGS ||
      spec->cgroup_procs_count > 64) {
    copy_message(spec, "invalid spawn spec: argv must have 1..4096 entries, env at most 4096");
    return -EINVAL;
  }
  struct ijr_child child = {
      .merged_dir = (const char *)(uintptr_t)spec->merged_dir,
      .overlay_opts = (const char *)(uintptr_t)spec->overlay_opts,
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
  child.status_fd = open((const char *)(uintptr_t)spec->status_path,
                         O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (child.status_fd < 0) {
    result = -errno;
    copy_message(spec, "cannot open the job's status file");
    goto out;
  }
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result = -errno;
    copy_message(spec, "pipe2 failed");
    goto out;
  }
  child.error_fd = pipe_fds[1];
  struct identity_region region = {0, 0, 0, 0};
  read_identity_region(&region); /* best effort: without it the name alone changes */

  uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC;
  int v2 = spec->cgroup_dir_fd >= 0;
  if (v2) flags |= CLONE_INTO_CGROUP | CLONE_NEWCGROUP;
  struct clone_args args;
  memset(&args, 0, sizeof(args));
  args.flags = flags;
  args.exit_signal = SIGCHLD;
  args.cgroup = v2 ? (uint64_t)spec->cgroup_dir_fd : 0;
  /* clone3 without a stack behaves like fork: the child gets a copy-on-write copy of this
   * address space and only this thread, and runs child_main, which never returns. */
  long pid = syscall(SYS_clone3, &args, sizeof(args));
  if (pid < 0 && errno == ENOSYS && !v2) {
    pid = syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), NULL, NULL, NULL, NULL);
  }
  if (pid < 0) {
    result = -errno;
    copy_message(spec, v2 ? "clone3 into the job's cgroup failed" : "clone failed");
    goto out;
  }
  if (pid == 0) child_main(&child, !v2, &region);

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
  }

out:
  if (pipe_fds[0] >= 0) close(pipe_fds[0]);
  if (pipe_fds[1] >= 0) close(pipe_fds[1]);
  if (child.output_fd >= 0) close(child.output_fd);
  if (child.status_fd >= 0) close(child.status_fd);
  free(argv);
  free(envp);
  free(procs);
  return result;
}
