/*
 * The job's command: a process the init starts with clone(CLONE_VM|CLONE_VFORK) (no copy of
 * the init's page tables just to exec; the init waits until it has exec'd or failed), with
 * default signal dispositions and mask, its own session, stdout and stderr into the job's
 * output (stdin is the init's: the job's /dev/null), the working directory, then exec with a
 * PATH search that says exactly why nothing could run.
 */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char DEFAULT_PATH[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

static const char *path_of(char *const *envp) {
  for (char *const *e = envp; e && *e; e++) {
    if (strncmp(*e, "PATH=", 5) == 0) return *e + 5;
  }
  return DEFAULT_PATH;
}

/* Reports why execve of `path` failed, as data: ENOENT for a file that exists means its #!
 * interpreter (or ELF loader) is missing; EACCES on a directory is EISDIR. */
static void report_exec_failure(int fd, int err, const char *path) {
  struct stat st;
  int exists = stat(path, &st) == 0;
  if (err == ENOENT && exists) {
    ijr_report(fd, IJR_STEP_EXEC_INTERPRETER, err, path, "");
  } else if (err == EACCES && exists && S_ISDIR(st.st_mode)) {
    ijr_report(fd, IJR_STEP_EXEC_COMMAND, EISDIR, path, "");
  } else {
    ijr_report(fd, IJR_STEP_EXEC_COMMAND, err, path, "");
  }
}

/* execve, searching PATH for a name without a slash like execvp does, but reporting exactly
 * why nothing could run: not found, or found and not executable. */
static void __attribute__((noreturn)) exec_command(const struct init_job *job, int report_fd) {
  const char *name = job->argv[0];
  if (strchr(name, '/')) {
    execve(name, job->argv, job->envp);
    report_exec_failure(report_fd, errno, name);
    _exit(127);
  }
  char candidate[4096];
  char denied[4096];
  denied[0] = '\0';
  size_t name_len = strlen(name);
  const char *dir = path_of(job->envp);
  while (1) {
    const char *end = strchr(dir, ':');
    size_t dir_len = end ? (size_t)(end - dir) : strlen(dir);
    if (dir_len + 1 + name_len + 1 <= sizeof(candidate)) {
      size_t n = 0;
      if (dir_len == 0) candidate[n++] = '.';
      memcpy(candidate + n, dir, dir_len);
      n += dir_len;
      candidate[n++] = '/';
      memcpy(candidate + n, name, name_len + 1);
      execve(candidate, job->argv, job->envp);
      int err = errno;
      if (err == EACCES) {
        if (denied[0] == '\0') memcpy(denied, candidate, n + name_len + 1);
      } else if (err != ENOENT && err != ENOTDIR) {
        report_exec_failure(report_fd, err, candidate);
        _exit(127);
      } else {
        struct stat st;
        if (err == ENOENT && stat(candidate, &st) == 0) {
          report_exec_failure(report_fd, err, candidate); /* found, but its interpreter is not */
          _exit(127);
        }
      }
    }
    if (!end) break;
    dir = end + 1;
  }
  if (denied[0] != '\0') report_exec_failure(report_fd, EACCES, denied);
  else ijr_report(report_fd, IJR_STEP_SEARCH_PATH, ENOENT, name, "");
  _exit(127);
}

static void __attribute__((noreturn)) fail(int report_fd, enum ijr_spawn_step step,
                                           const char *detail) {
  ijr_report(report_fd, step, errno, detail, "");
  _exit(127);
}

struct command_start {
  const struct init_job *job;
  int read_fd;
  int report_fd;
};

/* The output limit, kept by the kernel: no file the job writes may grow past it
 * (RLIMIT_FSIZE; a write that would is cut short, the next fails with EFBIG and SIGXFSZ),
 * and its output file is one of them. Soft and hard: the job has no CAP_SYS_RESOURCE to
 * raise it again. Set here, for the command and what it starts, not for the init: the
 * init's record of the end must never be cut short by it. */
static void limit_output(int report_fd, const struct init_job *job) {
  if (job->max_output_bytes == 0) return;
  struct rlimit fsize = {job->max_output_bytes, job->max_output_bytes};
  if (setrlimit(RLIMIT_FSIZE, &fsize) != 0) fail(report_fd, IJR_STEP_SET_RESOURCE_LIMITS, "RLIMIT_FSIZE");
}

static int command_main(void *arg) {
  const struct command_start *start = arg;
  const struct init_job *job = start->job;
  limit_output(start->report_fd, job);
  /* The init's end of the pipe; this process's copy only has to go (close releases the
   * descriptor whatever it returns). */
  (void)close(start->read_fd);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < 65; sig++) {
    /* EINVAL: KILL and STOP, and the C library's own two real-time signals. */
    if (sigaction(sig, &dfl, 0) != 0 && errno != EINVAL) {
      fail(start->report_fd, IJR_STEP_COMMAND_DESCRIPTORS, "sigaction");
    }
  }
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, 0) != 0) {
    fail(start->report_fd, IJR_STEP_COMMAND_DESCRIPTORS, "sigprocmask");
  }
  if (setsid() < 0) fail(start->report_fd, IJR_STEP_COMMAND_DESCRIPTORS, "setsid");
  if (dup2(IJR_INIT_OUTPUT_FD, 1) < 0 || dup2(IJR_INIT_OUTPUT_FD, 2) < 0) {
    fail(start->report_fd, IJR_STEP_COMMAND_DESCRIPTORS, "dup2");
  }
  if (chdir(job->workdir) != 0) fail(start->report_fd, IJR_STEP_COMMAND_WORKDIR, job->workdir);
  exec_command(job, start->report_fd);
}

pid_t ijr_start_command(const struct init_job *job) {
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) ijr_init_fail(IJR_STEP_START_COMMAND, errno, "pipe2");
  static char command_stack[256 * 1024] __attribute__((aligned(16)));
  struct command_start start = {job, exec_pipe[0], exec_pipe[1]};
  pid_t command = clone(command_main, command_stack + sizeof(command_stack),
                        CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
  if (command < 0) ijr_init_fail(IJR_STEP_START_COMMAND, errno, "clone");
  (void)close(exec_pipe[1]); /* released whatever close returns: the EOF below depends on it */
  /* The command's exec closes the pipe (CLOEXEC): EOF means it is running. A report means it
   * is not: pass it on to ijr_spawn and leave. */
  struct ijr_spawn_error report;
  size_t got = 0;
  while (got < sizeof(report)) {
    ssize_t n = read(exec_pipe[0], (char *)&report + got, sizeof(report) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (got > 0) {
    const char *p = (const char *)&report;
    size_t left = got;
    while (left > 0) {
      ssize_t n = write(IJR_INIT_ERROR_FD, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      p += n;
      left -= (size_t)n;
    }
    while (waitpid(command, 0, 0) < 0 && errno == EINTR) {
    }
    _exit(127);
  }
  (void)close(exec_pipe[0]); /* read to EOF: nothing more can come */
  return command;
}
