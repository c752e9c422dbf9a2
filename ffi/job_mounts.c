/*
 * The job's file system view: a private mount tree, an overlay of the rootfs (read-only
 * lower layer, the job's own upper layer in memory or on disk), fresh /proc, a minimal /dev,
 * read-only /sys, a private /tmp, then pivot_root into it with the old root detached. One
 * step per mount, in the order ffi/job_child.c runs them.
 */
#include "job_child.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ",uid=N,gid=N" for a tmpfs the job should see as its root's: with a user namespace, the
 * host ids of its range's start; without, nothing (the host's root is the job's). */
static void put_owner(const struct ijr_child *child, struct ijr_text *opts) {
  if (child->userns_fd < 0) return;
  ijr_text_put(opts, ",uid=");
  ijr_text_put_u64(opts, child->host_uid);
  ijr_text_put(opts, ",gid=");
  ijr_text_put_u64(opts, child->host_gid);
}

/* mount(2), reporting the target (relative targets are under the job's new root). */
static int do_mount(const struct ijr_child *child, const char *source, const char *target,
                    const char *type, unsigned long flags, const char *data) {
  if (mount(source, target, type, flags, data) != 0) {
    return ijr_fail(child, errno, target[0] == '/' ? "" : "/", target);
  }
  return 0;
}

/* A mount point the rootfs may lack. An existing non-directory (say a symlink planted by the
 * tarball) is refused rather than followed: the target must be where the job will look. */
static int ensure_dir(const struct ijr_child *child, const char *path, mode_t mode) {
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return 0;
    return ijr_fail(child, ENOTDIR, "/", path);
  }
  if (errno != ENOENT) return ijr_fail(child, errno, "/", path);
  /* The write lands in the job's upper layer, never in the uploaded rootfs. */
  if (mkdir(path, mode) != 0 && errno != EEXIST) return ijr_fail(child, errno, "/", path);
  return 0;
}

int ijr_make_mounts_private(struct ijr_child *child) {
  /* Nothing the job mounts or unmounts may propagate back to the host. */
  return do_mount(child, 0, "/", 0, MS_REC | MS_PRIVATE, 0);
}

/* Memory scratch: a tmpfs of the job's own, mounted inside its mount namespace, holding
 * upper/ and work/ and the folder the overlay goes on. Its pages are charged to the job's
 * memory cgroup, it is bounded by its size, it never touches the state disk, and it
 * vanishes with the namespace, so there is nothing to clean up. */
int ijr_mount_scratch(struct ijr_child *child) {
  if (child->scratch_dir) return 0;
  char opts_buf[64];
  struct ijr_text opts = {opts_buf, 0, sizeof(opts_buf), 0};
  ijr_text_put(&opts, "mode=0700,size=");
  ijr_text_put_u64(&opts, child->scratch_bytes);
  return do_mount(child, "ijr-scratch", child->mount_point, "tmpfs", MS_NOSUID | MS_NODEV,
                  opts_buf);
}

/* The overlay's upper, work and root folders: in the scratch tmpfs (made here), or the disk
 * scratch folder ijrd made under the state folder. With a user namespace, also the folder
 * the rootfs's idmapped mount goes on (job_userns.c); without, the lower layer is the rootfs
 * itself. */
int ijr_prepare_writable_layer(struct ijr_child *child) {
  const char *base = child->scratch_dir ? child->scratch_dir : child->mount_point;
  struct ijr_text lower = {child->lower, 0, sizeof(child->lower), 0};
  if (child->userns_fd >= 0) {
    ijr_text_put(&lower, base);
    ijr_text_put(&lower, "/lower");
  } else {
    ijr_text_put(&lower, child->lower_dir);
  }
  struct ijr_text upper = {child->upper, 0, sizeof(child->upper), 0};
  struct ijr_text work = {child->work, 0, sizeof(child->work), 0};
  struct ijr_text root = {child->root, 0, sizeof(child->root), 0};
  ijr_text_put(&upper, base);
  ijr_text_put(&upper, "/upper");
  ijr_text_put(&work, base);
  ijr_text_put(&work, "/work");
  ijr_text_put(&root, child->scratch_dir ? child->mount_point : base);
  if (!child->scratch_dir) ijr_text_put(&root, "/root");
  if (lower.truncated || upper.truncated || work.truncated || root.truncated) {
    return ijr_fail(child, ENAMETOOLONG, base, "");
  }
  if (!child->scratch_dir) {
    const char *dirs[] = {child->upper, child->work, child->root};
    for (int i = 0; i < 3; i++) {
      if (mkdir(dirs[i], 0700) != 0) return ijr_fail(child, errno, dirs[i], "");
    }
  }
  /* A disk scratch folder may hold it from a previous job's use of the same layout. */
  if (child->userns_fd >= 0 && mkdir(child->lower, 0700) != 0 && errno != EEXIST) {
    return ijr_fail(child, errno, child->lower, "");
  }
  return 0;
}

/* The overlay's "/" takes its mode and owner from the upper folder: give it the rootfs's
 * (through the idmapped mount: the job's range), or a job running as another user could not
 * even traverse "/". */
int ijr_inspect_rootfs(struct ijr_child *child) {
  struct stat st;
  if (stat(child->lower, &st) != 0) return ijr_fail(child, errno, child->lower, "");
  if (chown(child->upper, st.st_uid, st.st_gid) != 0 ||
      chmod(child->upper, st.st_mode & 07777) != 0) {
    return ijr_fail(child, errno, child->upper, "");
  }
  return 0;
}

/* The job's root: the overlay, entered. "volatile" (Linux 5.10+) stops the overlay from
 * syncing its upper file system: without it, unmounting the overlay when the job ends calls
 * syncfs on the whole file system below (the state disk, for disk scratch), once per job.
 * Nothing is lost by it: a job's upper layer never outlives the job. Older kernels refuse the
 * option and get a plain overlay. nodev and nosuid: device nodes and setuid files from an
 * uploaded tarball grant nothing. */
int ijr_mount_root(struct ijr_child *child) {
  char opts_buf[3 * (IJR_LAYER_PATH_MAX + 16) + 64];
  struct ijr_text opts = {opts_buf, 0, sizeof(opts_buf), 0};
  ijr_text_put(&opts, "lowerdir=");
  ijr_text_put(&opts, child->lower);
  ijr_text_put(&opts, ",upperdir=");
  ijr_text_put(&opts, child->upper);
  ijr_text_put(&opts, ",workdir=");
  ijr_text_put(&opts, child->work);
  size_t plain = opts.len;
  ijr_text_put(&opts, ",volatile");
  if (opts.truncated) return ijr_fail(child, ENAMETOOLONG, child->lower, "");
  const unsigned long flags = MS_NODEV | MS_NOSUID;
  if (mount("overlay", child->root, "overlay", flags, opts_buf) != 0) {
    if (errno != EINVAL) return ijr_fail(child, errno, child->root, "");
    opts_buf[plain] = '\0';
    if (mount("overlay", child->root, "overlay", flags, opts_buf) != 0) {
      return ijr_fail(child, errno, child->root, "");
    }
  }
  if (chdir(child->root) != 0) return ijr_fail(child, errno, child->root, "");
  return 0;
}

/* /proc of the job's PID namespace. hidepid=ptraceable: a process the caller may not ptrace
 * is not even listed, so the job's init (non-dumpable, and the job has no CAP_SYS_PTRACE)
 * has no /proc/1 in the job at all: no fd/, mem, environ, root or cwd to try. (Not
 * hidepid=invisible: it lets members of the mount's gid= group, root's group by default,
 * see everything, and a job's root can join any group.) */
int ijr_mount_proc(struct ijr_child *child) {
  if (ensure_dir(child, "proc", 0555) != 0) return -1;
  const unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (mount("proc", "proc", "proc", flags, "hidepid=ptraceable") == 0) return 0;
  /* Kernels before 5.8 know only the number. */
  if (errno == EINVAL) return do_mount(child, "proc", "proc", "proc", flags, "hidepid=2");
  return ijr_fail(child, errno, "/", "proc");
}

static const char *const HOST_DEVICES[] = {"null", "zero", "full", "random", "urandom", "tty", 0};

struct dev_link {
  const char *name;
  const char *target;
};
static const struct dev_link DEV_LINKS[] = {
    {"dev/fd", "/proc/self/fd"},       {"dev/stdin", "/proc/self/fd/0"},
    {"dev/stdout", "/proc/self/fd/1"}, {"dev/stderr", "/proc/self/fd/2"},
    {"dev/ptmx", "pts/ptmx"},          {0, 0},
};

/* /dev: a small tmpfs with the harmless host character devices bind-mounted in (a job cannot
 * create device nodes itself: no CAP_MKNOD, and the tmpfs is its own), pts and shm. */
int ijr_mount_dev(struct ijr_child *child) {
  if (ensure_dir(child, "dev", 0755) != 0) return -1;
  char dev_opts_buf[96];
  struct ijr_text dev_opts = {dev_opts_buf, 0, sizeof(dev_opts_buf), 0};
  ijr_text_put(&dev_opts, "mode=755,size=65536k");
  put_owner(child, &dev_opts);
  if (do_mount(child, "tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME,
               dev_opts_buf) != 0) {
    return -1;
  }
  for (const char *const *name = HOST_DEVICES; *name; name++) {
    char target_buf[32], source_buf[32];
    struct ijr_text target = {target_buf, 0, sizeof(target_buf), 0};
    struct ijr_text source = {source_buf, 0, sizeof(source_buf), 0};
    ijr_text_put(&target, "dev/");
    ijr_text_put(&target, *name);
    ijr_text_put(&source, "/dev/");
    ijr_text_put(&source, *name);
    int fd = open(target_buf, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) return ijr_fail(child, errno, "/", target_buf);
    if (close(fd) != 0) return ijr_fail(child, errno, "/", target_buf);
    if (do_mount(child, source_buf, target_buf, 0, MS_BIND, 0) != 0) return -1;
  }
  for (const struct dev_link *link = DEV_LINKS; link->name; link++) {
    if (symlink(link->target, link->name) != 0) return ijr_fail(child, errno, "/", link->name);
  }
  if (mkdir("dev/pts", 0755) != 0) return ijr_fail(child, errno, "/", "dev/pts");
  if (do_mount(child, "devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
               "newinstance,ptmxmode=0666,mode=0620") != 0) {
    return -1;
  }
  if (mkdir("dev/shm", 01777) != 0) return ijr_fail(child, errno, "/", "dev/shm");
  char shm_opts_buf[96];
  struct ijr_text shm_opts = {shm_opts_buf, 0, sizeof(shm_opts_buf), 0};
  ijr_text_put(&shm_opts, "mode=1777,size=65536k");
  put_owner(child, &shm_opts);
  return do_mount(child, "shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  shm_opts_buf);
}

/* In the new network namespace, sysfs shows only the job's own interfaces. */
int ijr_mount_sys(struct ijr_child *child) {
  if (ensure_dir(child, "sys", 0555) != 0) return -1;
  return do_mount(child, "sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
}

/* With a memory scratch, /tmp gets the same bound as the writable layer: both are the job's
 * files in memory. (A disk scratch leaves tmpfs's default, half of the RAM.) */
int ijr_mount_tmp(struct ijr_child *child) {
  if (ensure_dir(child, "tmp", 01777) != 0) return -1;
  char opts_buf[128];
  struct ijr_text opts = {opts_buf, 0, sizeof(opts_buf), 0};
  ijr_text_put(&opts, "mode=1777");
  if (!child->scratch_dir) {
    ijr_text_put(&opts, ",size=");
    ijr_text_put_u64(&opts, child->scratch_bytes);
  }
  put_owner(child, &opts);
  return do_mount(child, "tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts_buf);
}

/* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves the job
 * with no path to the host's tree at all. */
int ijr_pivot_root(struct ijr_child *child) {
  if (syscall(SYS_pivot_root, ".", ".") != 0) return ijr_fail(child, errno, child->root, "");
  if (umount2(".", MNT_DETACH) != 0) return ijr_fail(child, errno, "/", "");
  if (chdir("/") != 0) return ijr_fail(child, errno, "/", "");
  return 0;
}
