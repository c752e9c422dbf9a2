/*
 * The job's init, PID 1 of its PID namespace, in the style of tini and catatonit. It is a
 * small static program of its own (built into libijr.so and exec'd from a memfd by the
 * spawner), so a job holds neither a copy of the daemon's memory nor its command line and
 * environment. It forks
 * the command, forwards the signals a supervisor sends (TERM, INT, HUP, QUIT, USR1, USR2) to
 * it, reaps every process that ends in the namespace (orphans are re-parented to PID 1), and
 * when the command ends, records its status and exits with it (128+n for signal n). Its exit
 * tears the namespace down: the kernel kills whatever the command left running.
 */
#include "../job_child.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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

/* execve, searching PATH for a name without a slash like execvp does, but reporting exactly
 * why nothing could run: not found, or found and not executable. */
/* Says why execve of an existing-or-not `path` failed, in the user's terms. ENOENT for a file
 * that exists means its #! interpreter (or ELF loader) is missing. */
static void report_exec_failure(int fd, int err, const char *path) {
  struct stat st;
  int exists = stat(path, &st) == 0;
  if (err == ENOENT && exists) {
    ijr_report(fd, err, "interpreter of the command not found in rootfs: ", path, "");
  } else if (err == ENOENT) {
    ijr_report(fd, err, "command not found in rootfs: ", path, "");
  } else if (err == EACCES && exists && S_ISDIR(st.st_mode)) {
    ijr_report(fd, err, "command is a directory: ", path, "");
  } else if (err == EACCES) {
    ijr_report(fd, err, "command is not executable: ", path, "");
  } else if (err == ENOEXEC) {
    ijr_report(fd, err, "command is not in an executable format (no #! line?): ", path, "");
  } else {
    ijr_report(fd, err, "cannot execute ", path, "");
  }
}

/* execve, searching PATH for a name without a slash like execvp does, but reporting exactly
 * why nothing could run: not found, or found and not executable. */
static void __attribute__((noreturn)) exec_command(const struct ijr_child *child, int report_fd) {
  const char *name = child->argv[0];
  if (strchr(name, '/')) {
    execve(name, child->argv, child->envp);
    report_exec_failure(report_fd, errno, name);
    _exit(127);
  }
  char candidate[4096];
  char denied[4096];
  denied[0] = '\0';
  size_t name_len = strlen(name);
  const char *dir = path_of(child->envp);
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
      execve(candidate, child->argv, child->envp);
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
  else ijr_report(report_fd, ENOENT, "command not found in rootfs: ", name, " (searched PATH)");
  _exit(127);
}

/* The command's process: default signal dispositions and mask, its own session, stdin from
 * /dev/null, stdout and stderr into the job's output, the working directory, then exec. */
static void __attribute__((noreturn)) start_command(const struct ijr_child *child, int report_fd) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < 65; sig++) sigaction(sig, &dfl, 0); /* EINVAL for KILL/STOP: fine */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, 0);
  setsid();
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(child->output_fd, 1) < 0 || dup2(child->output_fd, 2) < 0) {
    ijr_report(report_fd, errno, "cannot set up stdin, stdout and stderr", "", "");
    _exit(127);
  }
  if (null_fd > 2) close(null_fd);
  if (chdir(child->workdir) != 0) {
    ijr_report(report_fd, errno, "working directory not usable in rootfs: ", child->workdir, "");
    _exit(127);
  }
  exec_command(child, report_fd);
}

struct command_start {
  const struct ijr_child *child;
  int read_fd;
  int report_fd;
};

static int command_main(void *arg) {
  const struct command_start *start = arg;
  close(start->read_fd);
  start_command(start->child, start->report_fd);
}

static void write_status(int fd, const char *kind, int value) {
  char text[32];
  size_t n = 0;
  for (const char *p = kind; *p; p++) text[n++] = *p;
  text[n++] = ' ';
  char digits[12];
  int d = 0;
  do {
    digits[d++] = (char)('0' + value % 10);
    value /= 10;
  } while (value && d < 11);
  while (d > 0) text[n++] = digits[--d];
  text[n++] = '\n';
  syscall(SYS_write, fd, text, n);
}

/* The init's life after the command started: wait for signals, forward them, reap. */
static void __attribute__((noreturn)) supervise(pid_t command, int status_fd, const sigset_t *waited) {
  sigset_t set = *waited;
  while (1) {
    siginfo_t info;
    long sig = syscall(SYS_rt_sigtimedwait, &set, &info, NULL, sizeof(long));
    if (sig < 0) continue; /* EINTR */
    if (sig != SIGCHLD) {
      syscall(SYS_kill, command, sig);
      continue;
    }
    int status;
    long pid;
    while ((pid = syscall(SYS_wait4, -1, &status, WNOHANG, NULL)) > 0) {
      if (pid != command) continue; /* an orphan, reaped */
      if (WIFSIGNALED(status)) {
        write_status(status_fd, "signal", WTERMSIG(status));
        syscall(SYS_exit_group, 128 + WTERMSIG(status));
      }
      write_status(status_fd, "exit", WEXITSTATUS(status));
      syscall(SYS_exit_group, WEXITSTATUS(status));
    }
  }
}

void ijr_run_init(const struct ijr_child *child) {
  /* Everything the init waits for is blocked and taken with sigwaitinfo: a PID 1 without
   * handlers would otherwise have the kernel drop these signals. */
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGCHLD);
  for (const int *sig = FORWARDED; *sig; sig++) sigaddset(&waited, *sig);
  sigprocmask(SIG_BLOCK, &waited, 0);

  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
    ijr_report(child->error_fd, errno, "pipe2 for exec", "", "");
    _exit(125);
  }
  /* The init is a copy-on-write image of the daemon; a plain fork would copy its page tables
   * once more just to exec. CLONE_VM|CLONE_VFORK shares the memory and suspends the init
   * until the command has exec'd (or failed), on a stack of its own. */
  static char command_stack[256 * 1024] __attribute__((aligned(16)));
  struct command_start start = {child, exec_pipe[0], exec_pipe[1]};
  pid_t command = clone(command_main, command_stack + sizeof(command_stack),
                        CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
  if (command < 0) {
    ijr_report(child->error_fd, errno, "start the command", "", "");
    _exit(125);
  }
  close(exec_pipe[1]);
  /* The command's exec closes the pipe (CLOEXEC): EOF means it is running. A report means it
   * is not: pass it on to ijr_spawn and leave. */
  struct ijr_report report;
  ssize_t got;
  do {
    got = read(exec_pipe[0], &report, sizeof(report));
  } while (got < 0 && errno == EINTR);
  if (got == (ssize_t)sizeof(report)) {
    ssize_t ignored = write(child->error_fd, &report, sizeof(report));
    (void)ignored;
    waitpid(command, 0, 0);
    _exit(127);
  }
  close(exec_pipe[0]);
  close(child->output_fd);
  close(child->error_fd); /* ijr_spawn returns now */
  supervise((pid_t)command, child->status_fd, &waited);
}
