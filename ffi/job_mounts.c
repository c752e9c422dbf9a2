/*
 * The job's file system view: a private mount tree, an overlay of the rootfs (read-only
 * lower layer, the job's own upper layer), fresh /proc, a minimal /dev, read-only /sys, a
 * private /tmp, then pivot_root into it with the old root detached.
 */
#include "job_child.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int do_mount(const struct ijr_child *child, const char *source, const char *target,
                    const char *type, unsigned long flags, const char *data) {
  if (mount(source, target, type, flags, data) != 0) {
    (void)source;
    (void)type;
    return ijr_report(child->error_fd, errno, "cannot mount ", target[0] == '/' ? "" : "/", target);
  }
  return 0;
}

/* A mount point the rootfs may lack. An existing non-directory (say a symlink planted by the
 * tarball) is refused rather than followed: the target must be where the job will look. */
static int ensure_dir(const struct ijr_child *child, const char *path, mode_t mode) {
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return 0;
    return ijr_report(child->error_fd, ENOTDIR, "the rootfs has a non-directory at /", path, "");
  }
  if (errno != ENOENT) return ijr_report(child->error_fd, errno, "cannot inspect /", path, "");
  /* The write lands in the job's upper layer, never in the uploaded rootfs. */
  if (mkdir(path, mode) != 0 && errno != EEXIST) {
    return ijr_report(child->error_fd, errno, "cannot create /", path, "");
  }
  return 0;
}

/* The job's root. "volatile" (Linux 5.10+) stops the overlay from syncing its upper file
 * system: without it, unmounting the overlay when the job ends calls syncfs on the whole
 * state disk, once per job, which is the most expensive step of a short job on a busy disk.
 * Nothing is lost by it: a job's upper layer never outlives the job, and ijrd deletes scratch
 * folders left by a crash at start-up. Older kernels refuse the option; they get a plain
 * overlay. */
static int mount_overlay(const struct ijr_child *child) {
  static const char VOLATILE[] = ",volatile";
  const unsigned long flags = MS_NODEV | MS_NOSUID;
  char opts[IJR_OVERLAY_OPTS_MAX + sizeof(VOLATILE)];
  size_t n = 0;
  for (const char *p = child->overlay_opts; *p && n < IJR_OVERLAY_OPTS_MAX; p++) opts[n++] = *p;
  for (const char *p = VOLATILE; *p; p++) opts[n++] = *p;
  opts[n] = '\0';
  if (mount("overlay", child->merged_dir, "overlay", flags, opts) == 0) return 0;
  if (errno != EINVAL) return ijr_report(child->error_fd, errno, "cannot mount the job's root", "", "");
  return do_mount(child, "overlay", child->merged_dir, "overlay", flags, child->overlay_opts);
}

static const char *const HOST_DEVICES[] = {"null", "zero", "full", "random", "urandom", "tty", 0};

struct dev_link {
  const char *name;
  const char *target;
};
static const struct dev_link DEV_LINKS[] = {
    {"dev/fd", "/proc/self/fd"},     {"dev/stdin", "/proc/self/fd/0"},
    {"dev/stdout", "/proc/self/fd/1"}, {"dev/stderr", "/proc/self/fd/2"},
    {"dev/ptmx", "pts/ptmx"},        {0, 0},
};

/* /dev: a small tmpfs with the harmless host character devices bind-mounted in (a job cannot
 * create device nodes itself: no CAP_MKNOD, and the tmpfs is its own), pts and shm. */
static int setup_dev(const struct ijr_child *child) {
  if (ensure_dir(child, "dev", 0755) != 0) return -1;
  if (do_mount(child, "tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME,
               "mode=755,size=65536k") != 0) {
    return -1;
  }
  char target[32];
  char source[32];
  for (const char *const *name = HOST_DEVICES; *name; name++) {
    size_t n = 0;
    for (const char *p = "dev/"; *p; p++) target[n++] = *p;
    for (const char *p = *name; *p; p++) target[n++] = *p;
    target[n] = '\0';
    n = 0;
    for (const char *p = "/dev/"; *p; p++) source[n++] = *p;
    for (const char *p = *name; *p; p++) source[n++] = *p;
    source[n] = '\0';
    int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) return ijr_report(child->error_fd, errno, "cannot create /", target, "");
    close(fd);
    if (do_mount(child, source, target, 0, MS_BIND, 0) != 0) return -1;
  }
  for (const struct dev_link *link = DEV_LINKS; link->name; link++) {
    if (symlink(link->target, link->name) != 0) {
      return ijr_report(child->error_fd, errno, "cannot create /", link->name, "");
    }
  }
  if (mkdir("dev/pts", 0755) != 0) return ijr_report(child->error_fd, errno, "mkdir /dev/pts", "", "");
  if (do_mount(child, "devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
               "newinstance,ptmxmode=0666,mode=0620") != 0) {
    return -1;
  }
  if (mkdir("dev/shm", 01777) != 0) return ijr_report(child->error_fd, errno, "mkdir /dev/shm", "", "");
  return do_mount(child, "shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "mode=1777,size=65536k");
}

int ijr_setup_mounts(const struct ijr_child *child) {
  /* Nothing the job mounts or unmounts may propagate back to the host. */
  if (do_mount(child, 0, "/", 0, MS_REC | MS_PRIVATE, 0) != 0) return -1;
  /* The job's root: its writes go to the upper layer; nodev and nosuid so device nodes and
   * setuid files from an uploaded tarball grant nothing. */
  if (mount_overlay(child) != 0) return -1;
  if (chdir(child->merged_dir) != 0) return ijr_report(child->error_fd, errno, "chdir ", child->merged_dir, "");
  if (ensure_dir(child, "proc", 0555) != 0) return -1;
  if (do_mount(child, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0) != 0) return -1;
  if (setup_dev(child) != 0) return -1;
  /* In the new network namespace, sysfs shows only the job's own interfaces. */
  if (ensure_dir(child, "sys", 0555) != 0) return -1;
  if (do_mount(child, "sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 0) != 0) {
    return -1;
  }
  if (ensure_dir(child, "tmp", 01777) != 0) return -1;
  if (do_mount(child, "tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) return -1;
  /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves the job
   * with no path to the host's tree at all. */
  if (syscall(SYS_pivot_root, ".", ".") != 0) return ijr_report(child->error_fd, errno, "pivot_root", "", "");
  if (umount2(".", MNT_DETACH) != 0) return ijr_report(child->error_fd, errno, "detach the old root", "", "");
  if (chdir("/") != 0) return ijr_report(child->error_fd, errno, "chdir /", "", "");
  return 0;
}
