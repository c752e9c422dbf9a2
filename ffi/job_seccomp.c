/* The seccomp filter, installed as the child's last step before the init: after
 * no_new_privs, with the raw system call (libseccomp's code is not async-signal-safe; the
 * filter was compiled once per daemon, ffi/seccomp_profile.c). The init and everything the
 * job runs stay under it; a filter can only be added to, never loosened. */
#include "job_child.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

int ijr_install_seccomp(struct ijr_child *child) {
  if (!child->seccomp_filter) return 0;
  struct sock_fprog program = {
      .len = (unsigned short)child->seccomp_filter_len,
      .filter = (struct sock_filter *)child->seccomp_filter,
  };
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
    return ijr_fail(child, errno, "seccomp", "");
  }
  return 0;
}
