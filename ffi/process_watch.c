/* Adopted job inits: pidfds, their signals, and one wait for all of them (process_watch.h). */
#include "process_watch.h"
#include "ijr_abi.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int32_t ijr_pidfd_open(int32_t pid) {
  if (pid <= 0) return -EINVAL;
  /* pidfds are always close-on-exec. */
  long fd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
  return fd < 0 ? -errno : (int32_t)fd;
}

int32_t ijr_pidfd_signal(int32_t pidfd, int32_t signal) {
  if (syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0) != 0) return -errno;
  return 0;
}

int32_t ijr_pidfd_reap(int32_t pidfd, int32_t *out) {
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG) != 0) return -errno;
  if (info.si_pid == 0) return 0;
  out[0] = info.si_code == CLD_EXITED ? IJR_END_EXIT : IJR_END_SIGNAL;
  out[1] = info.si_status;
  return 1;
}

int32_t ijr_exit_wake_make(void) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return fd < 0 ? -errno : fd;
}

int32_t ijr_exit_wake(int32_t wake_fd) {
  uint64_t one = 1;
  /* EAGAIN: the counter is full of wake-ups already, which wakes the waiter just the same. */
  if (write(wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one) && errno != EAGAIN) return -errno;
  return 0;
}

int32_t ijr_wait_exits(const int32_t *pidfds, uint32_t count, int32_t wake_fd, uint8_t *ended) {
  if (count > 1u << 20) return -EINVAL;
  struct pollfd *fds = calloc((size_t)count + 1, sizeof(*fds));
  if (!fds) return -ENOMEM;
  for (uint32_t i = 0; i < count; i++) fds[i] = (struct pollfd){pidfds[i], POLLIN, 0};
  fds[count] = (struct pollfd){wake_fd, POLLIN, 0};
  int ready;
  do {
    ready = poll(fds, (nfds_t)count + 1, -1);
  } while (ready < 0 && errno == EINTR);
  int32_t result = 0;
  if (ready < 0) {
    result = -errno;
  } else {
    for (uint32_t i = 0; i < count; i++) {
      /* A pidfd is readable once its process has ended (POLLIN), and never hangs up before. */
      ended[i] = (fds[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0;
      result += ended[i];
    }
    if (fds[count].revents & POLLIN) {
      uint64_t wakeups;
      /* EAGAIN: another wait drained it first; nothing is lost either way. */
      ssize_t n = read(wake_fd, &wakeups, sizeof(wakeups));
      (void)n;
    }
  }
  free(fds);
  return result;
}
