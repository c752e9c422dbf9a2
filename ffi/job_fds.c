/*
 * The descriptors the job's init starts with, and nothing else: 0, 1 and 2 on the job's own
 * /dev/null, and the three the init needs at fixed numbers (IJR_INIT_END_FD,
 * IJR_INIT_ERROR_FD, IJR_INIT_OUTPUT_FD). Every other descriptor of the daemon is closed:
 * those it inherited without close-on-exec from whatever started it (a descriptor of the
 * host's / would be a way out of the job's root) and its own stdout and stderr (its log).
 */
#include "job_child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Above every fixed number: a copy made here never lands on a target still to be filled. */
#define PARKING_FD 64
/* The memfd of ijr-init, kept close-on-exec for exec_init: execveat reads it, the init does
 * not inherit it. Likewise the job's user namespace, for enter_user_namespace. */
#define INIT_PROGRAM_FD (IJR_INIT_OUTPUT_FD + 1)
#define USERNS_FD (INIT_PROGRAM_FD + 1)

/* close_range(2) came in Linux 5.9; before it, close what /proc/self/fd lists (the job's
 * /proc, mounted by now; getdents64 directly, since readdir may allocate). */
static int close_from(int first) {
  if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0) return 0;
  if (errno != ENOSYS && errno != EINVAL) return -1;
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  char buf[4096];
  while (1) {
    long n = syscall(SYS_getdents64, dir, buf, sizeof(buf));
    if (n < 0) {
      int err = errno;
      (void)close(dir);
      errno = err;
      return -1;
    }
    if (n == 0) break;
    for (long at = 0; at < n;) {
      struct dirent64 *entry = (struct dirent64 *)(buf + at);
      at += entry->d_reclen;
      int fd = 0;
      const char *c = entry->d_name;
      if (*c < '0' || *c > '9') continue;
      for (; *c >= '0' && *c <= '9'; c++) fd = fd * 10 + (*c - '0');
      if (fd >= first && fd != dir) close(fd); /* EBADF for one closed meanwhile: fine */
    }
  }
  return close(dir);
}

int ijr_arrange_descriptors(struct ijr_child *child) {
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) return ijr_fail(child, errno, "/dev/null", "");
  int sources[5] = {null_fd, child->end_fd, child->error_fd, child->output_fd,
                    child->init_program_fd};
  int parked[5];
  for (int i = 0; i < 5; i++) {
    parked[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, PARKING_FD);
    if (parked[i] < 0) return ijr_fail(child, errno, "F_DUPFD_CLOEXEC", "");
  }
  /* dup2 leaves the copies without close-on-exec: the init inherits exactly these. */
  const int targets[6][2] = {
      {parked[0], 0},
      {parked[0], 1},
      {parked[0], 2},
      {parked[1], IJR_INIT_END_FD},
      {parked[2], IJR_INIT_ERROR_FD},
      {parked[3], IJR_INIT_OUTPUT_FD},
  };
  for (int i = 0; i < 6; i++) {
    if (dup2(targets[i][0], targets[i][1]) < 0) return ijr_fail(child, errno, "dup2", "");
  }
  child->end_fd = IJR_INIT_END_FD;
  child->error_fd = IJR_INIT_ERROR_FD;
  child->output_fd = IJR_INIT_OUTPUT_FD;
  if (dup3(parked[4], INIT_PROGRAM_FD, O_CLOEXEC) < 0) return ijr_fail(child, errno, "dup3", "");
  child->init_program_fd = INIT_PROGRAM_FD;
  if (child->userns_fd >= 0) {
    int parked_userns = fcntl(child->userns_fd, F_DUPFD_CLOEXEC, PARKING_FD);
    if (parked_userns < 0 || dup3(parked_userns, USERNS_FD, O_CLOEXEC) < 0) {
      return ijr_fail(child, errno, "userns", "");
    }
    child->userns_fd = USERNS_FD;
  }
  /* Everything above the last descriptor kept; without a user namespace that is the init's
   * program, and USERNS_FD is closed like any other. */
  int first_closed = child->userns_fd >= 0 ? USERNS_FD + 1 : INIT_PROGRAM_FD + 1;
  if (close_from(first_closed) != 0) return ijr_fail(child, errno, "close_range", "");
  return 0;
}
