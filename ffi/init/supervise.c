/*
 * The job's init after the command started, in the style of tini and catatonit, as one
 * poll loop over two descriptors:
 *
 * - a signalfd: SIGCHLD reaps every process that ends in the namespace (orphans are
 *   re-parented to PID 1); the signals a supervisor sends (TERM, INT, HUP, QUIT, USR1, USR2)
 *   are forwarded to the command;
 * - a timerfd: the job's timeout, then the grace period of the stop the init began for it.
 *
 * A stop the init begins is SIGTERM to the command, the grace period, then the init's own
 * exit, which tears the namespace down (the kernel kills whatever is left). The init keeps
 * the timeout itself, so it holds while ijrd is away. The output limit is the kernel's
 * (RLIMIT_FSIZE, set by the spawner); ijrd watches the output and stops the job when it
 * reaches it (an inotify instance per job would run into fs.inotify.max_user_instances,
 * 128 by default), and the init's report says so when the output is at its limit. When the
 * command ends, the init records how (and why it stopped it, if it did) in the job's end
 * file and exits with the command's status (128+n for signal n). The file, not a pipe: ijrd
 * may be down when the job ends (live restore), and reads the record when it is back.
 */
#include "init.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const int FORWARDED[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, 0};


struct supervisor {
  const struct init_job *job;
  pid_t command;
  int signal_fd;
  int timer_fd;
  enum ijr_stop_reason reason; /* IJR_STOP_NONE until the init begins a stop */
};

/* Records the command's end at the start of the end file, in one write of a few bytes, then
 * exits with the same status. No fsync: the record only has to outlive ijrd, not the host
 * (the job does not outlive the host either). Nothing can be done if the write fails: ijrd
 * then has only the init's own exit status, which says the same, or none if ijrd was down. */
static void __attribute__((noreturn)) finish(const struct supervisor *s, int kind, int value) {
  enum ijr_stop_reason reason = s->reason;
  /* The output can reach its limit and the command die of it (SIGXFSZ) before ijrd's watch
   * tells: the file says what happened. */
  struct stat st;
  if (reason == IJR_STOP_NONE && s->job->max_output_bytes > 0 &&
      fstat(IJR_INIT_OUTPUT_FD, &st) == 0 && (uint64_t)st.st_size >= s->job->max_output_bytes) {
    reason = IJR_STOP_OUTPUT_LIMIT;
  }
  struct ijr_init_status status;
  memset(&status, 0, sizeof(status));
  status.magic = IJR_INIT_STATUS_MAGIC;
  status.version = IJR_INIT_PROTOCOL_VERSION;
  status.kind = (uint16_t)kind;
  status.value = value;
  status.reason = (uint16_t)reason;
  struct timespec now;
  if (clock_gettime(CLOCK_REALTIME, &now) == 0) {
    status.end_sec = now.tv_sec;
    status.end_nsec = now.tv_nsec;
  }
  ssize_t written = pwrite(IJR_INIT_END_FD, &status, sizeof(status), 0);
  (void)written;
  syscall(SYS_exit_group, kind == IJR_END_SIGNAL ? 128 + value : value);
  __builtin_unreachable();
}

static void arm(int timer_fd, uint64_t ms) {
  struct itimerspec when;
  memset(&when, 0, sizeof(when));
  when.it_value.tv_sec = (time_t)(ms / 1000);
  when.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
  /* A zero it_value would disarm the timer instead of firing at once. */
  if (ms == 0) when.it_value.tv_nsec = 1;
  /* Fails only for a bad descriptor or value, which this file never passes. */
  (void)timerfd_settime(timer_fd, 0, &when, NULL);
}

/* A stop begun by the init (timeout, output limit): SIGTERM now, the grace period, then the
 * init's exit kills everything. A stop already under way keeps its first reason. */
static void begin_stop(struct supervisor *s, enum ijr_stop_reason reason) {
  if (s->reason != IJR_STOP_NONE) return;
  s->reason = reason;
  /* ESRCH: the command has ended and its SIGCHLD is queued. */
  (void)kill(s->command, SIGTERM);
  arm(s->timer_fd, s->job->grace_ms);
}

void ijr_waited_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGCHLD);
  for (const int *sig = FORWARDED; *sig; sig++) sigaddset(set, *sig);
}

/* Reaps every process that has ended; the command's end finishes the init. */
static void reap(const struct supervisor *s) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid != s->command) continue; /* an orphan, reaped */
    if (WIFSIGNALED(status)) finish(s, IJR_END_SIGNAL, WTERMSIG(status));
    finish(s, IJR_END_EXIT, WEXITSTATUS(status));
  }
}

static void on_signals(struct supervisor *s) {
  struct signalfd_siginfo info;
  int child_ended = 0;
  while (read(s->signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
    if (info.ssi_signo == SIGCHLD) {
      child_ended = 1;
    } else {
      (void)kill(s->command, (int)info.ssi_signo); /* ESRCH: ended, its SIGCHLD is next */
    }
  }
  if (child_ended) reap(s);
}

static void on_timer(struct supervisor *s) {
  uint64_t expirations;
  if (read(s->timer_fd, &expirations, sizeof(expirations)) != (ssize_t)sizeof(expirations)) {
    return; /* EAGAIN: a stale wake-up */
  }
  if (s->reason == IJR_STOP_NONE) {
    begin_stop(s, IJR_STOP_TIMEOUT);
  } else {
    /* The grace period is over: the kernel kills the namespace when the init exits. */
    finish(s, IJR_END_SIGNAL, SIGKILL);
  }
}

void ijr_supervise(const struct init_job *job, pid_t command) {
  struct supervisor s = {job, command, -1, -1, IJR_STOP_NONE};
  sigset_t waited;
  ijr_waited_signals(&waited);
  s.signal_fd = signalfd(-1, &waited, SFD_NONBLOCK | SFD_CLOEXEC);
  if (s.signal_fd < 0) ijr_init_fail(IJR_STEP_INIT_SIGNALS, errno, "signalfd");
  s.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (s.timer_fd < 0) ijr_init_fail(IJR_STEP_INIT_SIGNALS, errno, "timerfd");
  if (job->timeout_ms > 0) arm(s.timer_fd, job->timeout_ms);
  /* ijr_spawn returns at this EOF: the command runs and the init is ready for it. A failed
   * close of a pipe's write end still releases it. */
  (void)close(IJR_INIT_ERROR_FD);
  /* Signals were blocked all along: the signalfd has every one that came. */
  while (1) {
    struct pollfd fds[2] = {{s.signal_fd, POLLIN, 0}, {s.timer_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue; /* EINTR */
    if (fds[0].revents) on_signals(&s);
    if (fds[1].revents) on_timer(&s);
  }
}
