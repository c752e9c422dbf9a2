/*
 * ijr_spawn, the parent side of starting a job: prepare (validate the spec, open the output
 * and the end file, make the error pipe, load the init program, map the child's stack), clone the child into its
 * namespaces (it runs the checklist in job_child.c and execs the init), then collect: the
 * error pipe's EOF means the command runs, a report means it could not be started.
 */
#include "job_spawn.h"
#include "job_child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* The child's stack (child_stack.c: with a guard page below it). */
#define STACK_BYTES (512 * 1024)

/* ffi/clone3_run.S: clone3 that runs fn(arg) on the child's new stack. */
long ijr_clone3_run(struct clone_args *args, size_t size, int (*fn)(void *), void *arg)
    __attribute__((visibility("hidden")));

/* What one spawn holds, released whatever happens. */
struct resources {
  char **argv, **envp, **tasks;
  int output_fd;
  int end_fd;
  int error_pipe[2];
  struct ijr_child_stack stack;
};

static int fail(struct ijr_spawn_error *error, enum ijr_spawn_step step, int err,
                const char *detail) {
  memset(error, 0, sizeof(*error));
  error->errno_value = err;
  error->step = (int32_t)step;
  struct ijr_text text = {error->detail, 0, sizeof(error->detail), 0};
  ijr_text_put(&text, detail);
  return -err;
}

/* Splits `count` NUL-separated strings into a NULL-terminated array (the child only reads
 * the copy it shares). */
static char **split_strings(uint64_t packed_ptr, uint64_t count) {
  const char *packed = (const char *)(uintptr_t)packed_ptr;
  char **list = calloc(count + 1, sizeof(char *));
  if (!list) return NULL;
  for (uint64_t i = 0; i < count; i++) {
    list[i] = (char *)packed;
    packed += strlen(packed) + 1;
  }
  return list;
}

/* The init program in a sealed memfd, made once per process (under a lock: ijr_spawn may be
 * called from any thread), then exec'd by every job with execveat. */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_memfd = -1;

static int make_init_memfd(void) {
  int fd = memfd_create("ijr-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  const unsigned char *p = ijr_init_blob;
  size_t left = (size_t)(ijr_init_blob_end - ijr_init_blob);
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      (void)close(fd);
      return -err;
    }
    p += n;
    left -= (size_t)n;
  }
  /* Nobody, not even a later bug in this process, can change what every job runs. */
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
    int err = errno;
    (void)close(fd);
    return -err;
  }
  return fd;
}

static int init_program_fd(void) {
  int rc = pthread_mutex_lock(&init_lock);
  if (rc != 0) return -rc;
  if (init_memfd < 0) init_memfd = make_init_memfd();
  int fd = init_memfd; /* a failure is not kept: the next spawn tries again */
  if (fd < 0) init_memfd = -1;
  /* Fails only for a mutex this thread does not hold; it holds it. */
  (void)pthread_mutex_unlock(&init_lock);
  return fd;
}

static int valid_path(uint64_t ptr) {
  return ptr != 0 && strlen((const char *)(uintptr_t)ptr) <= IJR_LAYER_PATH_MAX;
}

/* Everything before the clone. Returns 0, or -errno with `error` filled. */
static int prepare(const struct ijr_spawn_spec *spec, struct resources *res,
                   struct ijr_child *child, struct ijr_spawn_error *error) {
  if (spec->argc == 0 || spec->argc > IJR_SPAWN_MAX_STRINGS || spec->envc > IJR_SPAWN_MAX_STRINGS ||
      spec->cgroup_tasks_count > IJR_SPAWN_MAX_CGROUPS) {
    return fail(error, IJR_STEP_VALIDATE_SPEC, EINVAL, "argc, envc or cgroup_tasks_count");
  }
  if ((spec->scratch_dir == 0) == (spec->scratch_bytes == 0)) {
    return fail(error, IJR_STEP_VALIDATE_SPEC, EINVAL, "scratch_dir or scratch_bytes");
  }
  if (!valid_path(spec->mount_point) || !valid_path(spec->lower_dir) ||
      (spec->scratch_dir && !valid_path(spec->scratch_dir))) {
    return fail(error, IJR_STEP_VALIDATE_SPEC, ENAMETOOLONG, "mount_point, lower_dir or scratch_dir");
  }
  if (!spec->hostname || !spec->output_path || !spec->end_path || !spec->workdir || !spec->argv) {
    return fail(error, IJR_STEP_VALIDATE_SPEC, EINVAL, "a required string is missing");
  }
  if ((spec->seccomp_filter == 0) != (spec->seccomp_filter_len == 0) ||
      spec->seccomp_filter_len > 4096 || spec->host_uid > UINT32_MAX - 65536 ||
      spec->host_gid > UINT32_MAX - 65536) {
    return fail(error, IJR_STEP_VALIDATE_SPEC, EINVAL, "seccomp filter or host ids");
  }
  if (spec->net_ns_fd < -1 || spec->net_ns_fd > INT32_MAX || spec->ipc_ns_fd < -1 ||
      spec->ipc_ns_fd > INT32_MAX) {
    return fail(error, IJR_STEP_VALIDATE_SPEC, EINVAL, "net_ns_fd or ipc_ns_fd");
  }
  res->argv = split_strings(spec->argv, spec->argc);
  res->envp = split_strings(spec->envp, spec->envc);
  res->tasks = split_strings(spec->cgroup_tasks, spec->cgroup_tasks_count);
  if (!res->argv || !res->envp || !res->tasks) {
    return fail(error, IJR_STEP_VALIDATE_SPEC, ENOMEM, "");
  }
  /* Opened here, with the host's paths, before any namespace changes; close-on-exec, and the
   * child moves it to IJR_INIT_OUTPUT_FD for the init. */
  const char *output_path = (const char *)(uintptr_t)spec->output_path;
  res->output_fd = open(output_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (res->output_fd < 0) return fail(error, IJR_STEP_OPEN_OUTPUT, errno, output_path);
  /* The command's end is recorded in a file the init holds open: it is there for ijrd to
   * read whether ijrd reaps the init or was down when the job ended (live restore). Empty
   * until then; only the init has it open for writing, and the job cannot reach it. */
  const char *end_path = (const char *)(uintptr_t)spec->end_path;
  res->end_fd = open(end_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (res->end_fd < 0) return fail(error, IJR_STEP_OPEN_END_FILE, errno, end_path);
  if (pipe2(res->error_pipe, O_CLOEXEC) != 0) return fail(error, IJR_STEP_MAKE_PIPES, errno, "error");
  int init_fd = init_program_fd();
  if (init_fd < 0) return fail(error, IJR_STEP_LOAD_INIT, -init_fd, "");
  int rc = ijr_child_stack_map(&res->stack, STACK_BYTES);
  if (rc != 0) return fail(error, IJR_STEP_ALLOCATE_STACK, -rc, "");

  child->mount_point = (const char *)(uintptr_t)spec->mount_point;
  child->lower_dir = (const char *)(uintptr_t)spec->lower_dir;
  child->scratch_dir = (const char *)(uintptr_t)spec->scratch_dir;
  child->scratch_bytes = spec->scratch_bytes;
  child->hostname = (const char *)(uintptr_t)spec->hostname;
  child->workdir = (const char *)(uintptr_t)spec->workdir;
  child->argv = res->argv;
  child->envp = res->envp;
  child->cgroup_tasks = (const char *const *)res->tasks;
  child->userns_fd = (int)spec->userns_fd;
  child->net_ns_fd = (int)spec->net_ns_fd;
  child->ipc_ns_fd = (int)spec->ipc_ns_fd;
  child->host_uid = (uint32_t)spec->host_uid;
  child->host_gid = (uint32_t)spec->host_gid;
  child->seccomp_filter = (const void *)(uintptr_t)spec->seccomp_filter;
  child->seccomp_filter_len = spec->seccomp_filter_len;
  child->max_output_bytes = spec->max_output_bytes;
  child->timeout_ms = spec->timeout_ms;
  child->grace_ms = spec->grace_ms;
  child->unshare_cgroup_namespace = spec->cgroup_dir_fd < 0;
  child->parent_death_signal = (spec->flags & IJR_SPAWN_FLAG_PARENT_DEATH_SIGNAL) != 0;
  child->probe_mounts = (spec->flags & IJR_SPAWN_FLAG_PROBE_MOUNTS) != 0;
  child->init_program_fd = init_fd;
  child->error_fd = res->error_pipe[1];
  child->output_fd = res->output_fd;
  child->end_fd = res->end_fd;
  return 0;
}

/* Clones the child. Returns its PID, or -errno with `error` filled. */
static long clone_child(const struct ijr_spawn_spec *spec, struct resources *res,
                        struct ijr_child *child, struct ijr_spawn_error *error) {
  uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS;
  /* A network or IPC namespace made ahead is entered by the child's first step instead. */
  if (spec->net_ns_fd < 0) flags |= CLONE_NEWNET;
  if (spec->ipc_ns_fd < 0) flags |= CLONE_NEWIPC;
  int v2 = spec->cgroup_dir_fd >= 0;
  if (v2) flags |= CLONE_INTO_CGROUP | CLONE_NEWCGROUP;
  char *stack = res->stack.base;
  /* Signals stay blocked in the child until the init sets its own mask: a handler of the
   * daemon must never run in a child that shares its memory. */
  sigset_t all, saved;
  sigfillset(&all);
  int rc = pthread_sigmask(SIG_SETMASK, &all, &saved);
  if (rc != 0) return fail(error, IJR_STEP_CLONE, rc, "pthread_sigmask");
  /* CLONE_VM|CLONE_VFORK: no copy of this (large) process's page tables; this thread waits
   * until the child has exec'd the init or exited. */
  struct clone_args args;
  memset(&args, 0, sizeof(args));
  args.flags = flags | CLONE_VM | CLONE_VFORK;
  args.exit_signal = SIGCHLD;
  args.cgroup = v2 ? (uint64_t)spec->cgroup_dir_fd : 0;
  args.stack = (uint64_t)(uintptr_t)stack;
  args.stack_size = STACK_BYTES;
  long pid = ijr_clone3_run(&args, sizeof(args), ijr_child_main, child);
  if (pid == -ENOSYS && !v2) {
    /* Kernels before 5.3 have no clone3; without cgroup v2 the old call does the same. */
    pid = clone(ijr_child_main, stack + STACK_BYTES, (int)(flags | CLONE_VM | CLONE_VFORK) | SIGCHLD,
                child);
    if (pid < 0) pid = -errno;
  }
  rc = pthread_sigmask(SIG_SETMASK, &saved, NULL);
  if (pid < 0) return fail(error, IJR_STEP_CLONE, (int)-pid, v2 ? "clone3" : "clone");
  /* Restoring a mask saved a moment ago cannot fail; if it did, this thread would stay deaf
   * to signals, so say so rather than carry on. */
  if (rc != 0) abort();
  return pid;
}

/* Reads the child's report, if any: EOF without one means the command was exec'd. */
static int32_t collect(long pid, struct resources *res, struct ijr_spawn_error *error) {
  /* Our copy of the write end must go for the EOF to come; close releases it whatever it
   * returns. */
  (void)close(res->error_pipe[1]);
  res->error_pipe[1] = -1;
  struct ijr_spawn_error report;
  size_t got = 0;
  while (got < sizeof(report)) {
    ssize_t n = read(res->error_pipe[0], (char *)&report + got, sizeof(report) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (got == 0) return (int32_t)pid;
  /* The job failed to start and its init exits: reap it, so no zombie is left. */
  while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR) {
  }
  if (got != sizeof(report) || report.step < 0 || report.step >= IJR_STEP_COUNT_ ||
      report.errno_value <= 0 || report.errno_value > 4095) {
    return fail(error, IJR_STEP_EXEC_INIT, EPROTO, "malformed report from the job's child");
  }
  report.detail[sizeof(report.detail) - 1] = '\0';
  *error = report;
  return -report.errno_value;
}

/* Closing only releases (descriptors opened for writing nothing ijrd reads back here), and
 * munmap of a mapping made here cannot fail: their results change nothing. */
static void release(struct resources *res) {
  int fds[] = {res->output_fd, res->end_fd, res->error_pipe[0], res->error_pipe[1]};
  for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
    if (fds[i] >= 0) (void)close(fds[i]);
  }
  free(res->argv);
  free(res->envp);
  free(res->tasks);
  ijr_child_stack_unmap(&res->stack);
}

int32_t ijr_spawn(struct ijr_spawn_spec *spec) {
  struct ijr_spawn_error *error = (struct ijr_spawn_error *)(uintptr_t)spec->error;
  if (!error) return -EINVAL;
  struct resources res = {
      .output_fd = -1, .end_fd = -1, .error_pipe = {-1, -1},
  };
  struct ijr_child child;
  memset(&child, 0, sizeof(child));
  int32_t result = prepare(spec, &res, &child, error);
  if (result == 0) {
    long pid = clone_child(spec, &res, &child, error);
    result = pid > 0 ? collect(pid, &res, error) : (int32_t)pid;
  }
  if (result > 0 && child.probe_mounts) {
    /* The probe's child ended at its last step: reap it; there is no job. */
    int status = 0;
    while (waitpid((pid_t)result, &status, 0) < 0 && errno == EINTR) {
    }
    result = WIFEXITED(status) && WEXITSTATUS(status) == 0
                 ? 0
                 : fail(error, IJR_STEP_MOUNT_ROOT, EPROTO, "the probe ended without a report");
  }
  release(&res);
  return result;
}
