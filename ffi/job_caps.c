/*
 * Capabilities: the job keeps a small default set (Docker's, without MKNOD) and loses the
 * rest from its bounding set too, so no exec can regain them: no SYS_ADMIN (mount), no
 * SYS_MODULE, no MKNOD, no SYS_PTRACE, no NET_ADMIN, no SYS_RAWIO.
 */
#include "job_child.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const int KEPT[] = {
    CAP_CHOWN,  CAP_DAC_OVERRIDE,     CAP_FOWNER,  CAP_FSETID,     CAP_KILL,
    CAP_SETGID, CAP_SETUID,           CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_NET_RAW,
    CAP_SYS_CHROOT, CAP_AUDIT_WRITE, CAP_SETFCAP, -1,
};

static int kept(int cap) {
  for (const int *k = KEPT; *k >= 0; k++) {
    if (*k == cap) return 1;
  }
  return 0;
}

int ijr_drop_capabilities(struct ijr_child *child) {
  /* The bounding set first: dropping needs CAP_SETPCAP, which capset below keeps anyway. */
  for (int cap = 0; cap < 64; cap++) {
    if (kept(cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break; /* past the kernel's last capability */
      return ijr_fail(child, errno, "bounding set", "");
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return ijr_fail(child, errno, "ambient set", "");
  }
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
  for (const int *k = KEPT; *k >= 0; k++) {
    data[*k / 32].effective |= 1u << (*k % 32);
    data[*k / 32].permitted |= 1u << (*k % 32);
    data[*k / 32].inheritable |= 1u << (*k % 32);
  }
  if (syscall(SYS_capset, &header, data) != 0) {
    return ijr_fail(child, errno, "capset", "");
  }
  return 0;
}
