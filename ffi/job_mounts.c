/*
 * The job's file system view: a private mount tree, an overlay of the rootfs (read-only
 * lower layer, the job's own upper layer in memory or on disk), fresh /proc, a minimal /dev,
 * read-only /sys, a private /tmp, then pivot_root into it with the old root detached.
 */
#include "job_child.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <stdint.h>
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

/* Text building on the stack (no snprintf in the child). */
struct text {
  char *buf;
  size_t len;
  size_t cap;
};

static void put(struct text *t, const char *s) {
  while (*s && t->len + 1 < t->cap) t->buf[t->len++] = *s++;
  t->buf[t->len] = '\0';
}

static void put_number(struct text *t, uint64_t value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value);
  char out[2] = {0, 0};
  while (n > 0) {
    out[0] = digits[--n];
    put(t, out);
  }
}

#define LAYER_TEXT (IJR_LAYER_PATH_MAX + 16)

/* The job's writable layer. Memory: a tmpfs of the job's own, mounted inside its mount
 * namespace, holding upper/ and work/ and the folder the overlay goes on. Its pages are
 * charged to the job's memory cgroup, it is bounded by its size, it never touches the state
 * disk, and it vanishes with the namespace, so there is nothing to clean up. Disk: the
 * scratch folder ijrd made under the state folder. */
static int prepare_layer(const struct ijr_child *child, struct text *upper, struct text *work,
                         struct text *root) {
  const char *base = child->scratch_dir;
  if (!base) {
    char opts_buf[64];
    struct text opts = {opts_buf, 0, sizeof(opts_buf)};
    put(&opts, "mode=0700,size=");
    put_number(&opts, child->scratch_bytes);
    if (do_mount(child, "ijr-scratch", child->mount_point, "tmpfs", MS_NOSUID | MS_NODEV,
                 opts_buf) != 0) {
      return -1;
    }
    base = child->mount_point;
  }
  put(upper, base);
  put(upper, "/upper");
  put(work, base);
  put(work, "/work");
  if (child->scratch_dir) {
    put(root, child->mount_point);
  } else {
    put(root, base);
    put(root, "/root");
    if (mkdir(upper->buf, 0700) != 0 || mkdir(work->buf, 0700) != 0 || mkdir(root->buf, 0700) != 0) {
      return ijr_report(child->error_fd, errno, "cannot make the job's writable layer", "", "");
    }
  }
  /* The overlay's "/" takes its mode and owner from the upper folder: give it the rootfs's,
   * or a job running as another user could not even traverse "/". */
  struct stat st;
  if (stat(child->lower_dir, &st) != 0) return ijr_report(child->error_fd, errno, "the rootfs is gone", "", "");
  if (chown(upper->buf, st.st_uid, st.st_gid) != 0 || chmod(upper->buf, st.st_mode & 07777) != 0) {
    return ijr_report(child->error_fd, errno, "cannot set the mode of the job's /", "", "");
  }
  return 0;
}

/* The job's root: the overlay, entered. "volatile" (Linux 5.10+) stops the overlay from
 * syncing its upper file system: without it, unmounting the overlay when the job ends calls
 * syncfs on the whole file system below (the state disk, for disk scratch), once per job.
 * Nothing is lost by it: a job's upper layer never outlives the job. Older kernels refuse the
 * option and get a plain overlay. */
static int mount_root(const struct ijr_child *child) {
  char upper_buf[LAYER_TEXT], work_buf[LAYER_TEXT], root_buf[LAYER_TEXT];
  struct text upper = {upper_buf, 0, sizeof(upper_buf)};
  struct text work = {work_buf, 0, sizeof(work_buf)};
  struct text root = {root_buf, 0, sizeof(root_buf)};
  if (prepare_layer(child, &upper, &work, &root) != 0) return -1;
  char opts_buf[3 * LAYER_TEXT + 64];
  struct text opts = {opts_buf, 0, sizeof(opts_buf)};
  put(&opts, "lowerdir=");
  put(&opts, child->lower_dir);
  put(&opts, ",upperdir=");
  put(&opts, upper.buf);
  put(&opts, ",workdir=");
  put(&opts, work.buf);
  size_t plain = opts.len;
  put(&opts, ",volatile");
  const unsigned long flags = MS_NODEV | MS_NOSUID;
  if (mount("overlay", root.buf, "overlay", flags, opts_buf) != 0) {
    if (errno != EINVAL) return ijr_report(child->error_fd, errno, "cannot mount the job's root", "", "");
    opts_buf[plain] = '\0';
    if (do_mount(child, "overlay", root.buf, "overlay", flags, opts_buf) != 0) return -1;
  }
  if (chdir(root.buf) != 0) return ijr_report(child->error_fd, errno, "chdir ", root.buf, "");
  return 0;
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
  if (mount_root(child) != 0) return -1;
  if (ensure_dir(child, "proc", 0555) != 0) return -1;
  if (do_mount(child, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0) != 0) return -1;
  if (setup_dev(child) != 0) return -1;
  /* In the new network namespace, sysfs shows only the job's own interfaces. */
  if (ensure_dir(child, "sys", 0555) != 0) return -1;
  if (do_mount(child, "sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 0) != 0) {
    return -1;
  }
  if (ensure_dir(child, "tmp", 01777) != 0) return -1;
  /* With a memory scratch, /tmp gets the same bound as the writable layer: both are the
   * job's files in memory. (A disk scratch leaves tmpfs's default, half of the RAM.) */
  char tmp_opts_buf[64];
  struct text tmp_opts = {tmp_opts_buf, 0, sizeof(tmp_opts_buf)};
  put(&tmp_opts, "mode=1777");
  if (!child->scratch_dir) {
    put(&tmp_opts, ",size=");
    put_number(&tmp_opts, child->scratch_bytes);
  }
  if (do_mount(child, "tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, tmp_opts_buf) != 0) return -1;
  /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves the job
   * with no path to the host's tree at all. */
  if (syscall(SYS_pivot_root, ".", ".") != 0) return ijr_report(child->error_fd, errno, "pivot_root", "", "");
  if (umount2(".", MNT_DETACH) != 0) return ijr_report(child->error_fd, errno, "detach the old root", "", "");
  if (chdir("/") != 0) return ijr_report(child->error_fd, errno, "chdir /", "", "");
  return 0;
}
