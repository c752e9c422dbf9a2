/*
 * Hides the parts of /proc and /sys that describe or control the host (the same paths runc
 * and crun mask by default): files are covered with /dev/null, folders with an empty
 * read-only tmpfs, and the writable control files of /proc are made read-only.
 */
#include "job_child.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>

static const char *const MASKED[] = {
    "/proc/acpi",        "/proc/asound",      "/proc/kcore",     "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",        "/sys/firmware",     0,
};

static const char *const READ_ONLY[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", 0,
};

int ijr_mask_paths(struct ijr_child *child) {
  struct stat st;
  for (const char *const *path = MASKED; *path; path++) {
    if (stat(*path, &st) != 0) {
      if (errno == ENOENT) continue; /* not in this kernel */
      return ijr_fail(child, errno, *path, "");
    }
    int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", *path, "tmpfs", MS_RDONLY, "size=0")
                                 : mount("/dev/null", *path, 0, MS_BIND, 0);
    /* /sys is read-only already: a tmpfs on it still mounts, a failure here is real. */
    if (rc != 0) return ijr_fail(child, errno, *path, "");
  }
  for (const char *const *path = READ_ONLY; *path; path++) {
    if (stat(*path, &st) != 0) {
      if (errno == ENOENT) continue;
      return ijr_fail(child, errno, *path, "");
    }
    if (mount(*path, *path, 0, MS_BIND | MS_REC, 0) != 0 ||
        mount(*path, *path, 0, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 0) != 0) {
      return ijr_fail(child, errno, *path, "");
    }
  }
  return 0;
}
