/*
 * The job's init, PID 1 of its PID namespace, in the style of tini and catatonit. A small
 * static program of its own (built into libijr.so and exec'd from a sealed memfd by the
 * spawner), so a job holds nothing of the daemon's memory, command line or environment.
 *
 * It makes itself unreachable to the job (non-dumpable: /proc/1/fd, mem, environ need
 * CAP_SYS_PTRACE, which no job has, and the job's /proc hides it altogether), starts the
 * command, forwards the signals a supervisor sends (TERM, INT, HUP, QUIT, USR1, USR2) to it,
 * reaps every process that ends in the namespace (orphans are re-parented to PID 1), and when
 * the command ends, reports its status on the status pipe and exits with it (128+n for signal
 * n). Its exit tears the namespace down: the kernel kills whatever the command left running.
 */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const int FORWARDED[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, 0};

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

/* The command's process: default signal dispositions and mask, its own session, stdout and
 * stderr into the job's output (stdin is the init's: the job's /dev/null), the working
 * directory, then exec. */
static void __attribute__((noreturn)) start_command(const struct init_job *job, int report_fd) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < 65; sig++) {
    /* EINVAL: KILL and STOP, and the C library's own two real-time signals. */
    if (sigaction(sig, &dfl, 0) != 0 && errno != EINVAL) {
      ijr_report(report_fd, IJR_STEP_COMMAND_DESCRIPTORS, errno, "sigaction", "");
      _exit(127);
    }
  }
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, 0) != 0) {
    ijr_report(report_fd, IJR_STEP_COMMAND_DESCRIPTORS, errno, "sigprocmask", "");
    _exit(127);
  }
  if (setsid() < 0) {
    ijr_report(report_fd, IJR_STEP_COMMAND_DESCRIPTORS, errno, "setsid", "");
    _exit(127);
  }
  if (dup2(IJR_INIT_OUTPUT_FD, 1) < 0 || dup2(IJR_INIT_OUTPUT_FD, 2) < 0) {
    ijr_report(report_fd, IJR_STEP_COMMAND_DESCRIPTORS, errno, "dup2", "");
    _exit(127);
  }
  if (chdir(job->workdir) != 0) {
    ijr_report(report_fd, IJR_STEP_COMMAND_WORKDIR, errno, job->workdir, "");
    _exit(127);
  }
  exec_command(job, report_fd);
}

struct command_start {
  const struct init_job *job;
  int read_fd;
  int report_fd;
};

static int command_main(void *arg) {
  const struct command_start *start = arg;
  /* The init's end of the pipe; this process's copy only has to go (close releases the
   * descriptor whatever it returns). */
  (void)close(start->read_fd);
  start_command(start->job, start->report_fd);
}

/* Sends the command's end on the status pipe: one write of a few bytes, atomic. Nothing can
 * be done if it fails: ijrd then has only the init's own exit status. */
static void report_end(int kind, int value) {
  struct ijr_init_status status;
  memset(&status, 0, sizeof(status));
  status.magic = IJR_INIT_STATUS_MAGIC;
  status.version = IJR_INIT_PROTOCOL_VERSION;
  status.kind = (uint16_t)kind;
  status.value = value;
  ssize_t written = syscall(SYS_write, IJR_INIT_STATUS_FD, &status, sizeof(status));
  (void)written;
}

/* The init's life after the command started: wait for signals, forward them, reap. */
static void __attribute__((noreturn)) supervise(pid_t command, const sigset_t *waited) {
  sigset_t set = *waited;
  while (1) {
    siginfo_t info;
    long sig = syscall(SYS_rt_sigtimedwait, &set, &info, NULL, sizeof(long));
    if (sig < 0) continue; /* EINTR */
    if (sig != SIGCHLD) {
      /* ESRCH: the command has ended and its SIGCHLD is queued; nothing else can fail. */
      long sent = syscall(SYS_kill, command, sig);
      (void)sent;
      continue;
    }
    int status;
    long pid;
    while ((pid = syscall(SYS_wait4, -1, &status, WNOHANG, NULL)) > 0) {
      if (pid != command) continue; /* an orphan, reaped */
      if (WIFSIGNALED(status)) {
        report_end(IJR_END_SIGNAL, WTERMSIG(status));
        syscall(SYS_exit_group, 128 + WTERMSIG(status));
      }
      report_end(IJR_END_EXIT, WEXITSTATUS(status));
      syscall(SYS_exit_group, WEXITSTATUS(status));
    }
  }
}

void ijr_run_init(const struct init_job *job) {
  /* Non-dumpable first: from here on the job's processes cannot open /proc/1/fd/N (the
   * status pipe among them), /proc/1/mem or /proc/1/environ. exec made it dumpable again. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    ijr_report(IJR_INIT_ERROR_FD, IJR_STEP_INIT_PROTECT, errno, "PR_SET_DUMPABLE", "");
    _exit(125);
  }
  /* Executed from a memfd, the process would be named "memfd:ijr-init" in ps. */
  if (prctl(PR_SET_NAME, "ijr-init", 0, 0, 0) != 0) {
    ijr_report(IJR_INIT_ERROR_FD, IJR_STEP_INIT_PROTECT, errno, "PR_SET_NAME", "");
    _exit(125);
  }
  /* None of the three may reach the command except its output, as its stdout and stderr
   * (dup2 clears the flag on the copies). */
  const int kept[] = {IJR_INIT_STATUS_FD, IJR_INIT_ERROR_FD, IJR_INIT_OUTPUT_FD};
  for (int i = 0; i < 3; i++) {
    if (fcntl(kept[i], F_SETFD, FD_CLOEXEC) != 0) {
      ijr_report(IJR_INIT_ERROR_FD, IJR_STEP_INIT_PROTECT, errno, "FD_CLOEXEC", "");
      _exit(125);
    }
  }
  /* Everything the init waits for is blocked and taken with sigtimedwait: a PID 1 without
   * handlers would otherwise have the kernel drop these signals. */
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGCHLD);
  for (const int *sig = FORWARDED; *sig; sig++) sigaddset(&waited, *sig);
  if (sigprocmask(SIG_BLOCK, &waited, 0) != 0) {
    ijr_report(IJR_INIT_ERROR_FD, IJR_STEP_INIT_SIGNALS, errno, "sigprocmask", "");
    _exit(125);
  }
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
    ijr_report(IJR_INIT_ERROR_FD, IJR_STEP_START_COMMAND, errno, "pipe2", "");
    _exit(125);
  }
  /* CLONE_VM|CLONE_VFORK: no copy of the init's page tables just to exec, and the init is
   * suspended until the command has exec'd (or failed), on a stack of its own. */
  static char command_stack[256 * 1024] __attribute__((aligned(16)));
  struct command_start start = {job, exec_pipe[0], exec_pipe[1]};
  pid_t command = clone(command_main, command_stack + sizeof(command_stack),
                        CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
  if (command < 0) {
    ijr_report(IJR_INIT_ERROR_FD, IJR_STEP_START_COMMAND, errno, "clone", "");
    _exit(125);
  }
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
  if (close(IJR_INIT_OUTPUT_FD) != 0) {
    ijr_report(IJR_INIT_ERROR_FD, IJR_STEP_START_COMMAND, errno, "close output", "");
    _exit(125);
  }
  /* ijr_spawn returns at this EOF. A failed close of a pipe's write end still releases it. */
  (void)close(IJR_INIT_ERROR_FD);
  supervise(command, &waited);
}
