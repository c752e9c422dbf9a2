/*
 * Confined extraction (see extract.h). The whole point of this file is that no path taken
 * from an archive is ever resolved by the kernel relative to anything but the new root:
 *
 * - directories are looked up only with openat2(root, path, RESOLVE_IN_ROOT |
 *   RESOLVE_NO_MAGICLINKS): ".." stops at the root and absolute symlinks (normal in a
 *   rootfs: bin/sh -> /bin/busybox) resolve against the root, as they will inside the job;
 * - the last component is created with *at() calls in the resolved parent, with O_EXCL /
 *   O_NOFOLLOW / AT_SYMLINK_NOFOLLOW semantics, so a symlink planted by an earlier entry is
 *   never followed for the final step;
 * - a hard link's source is resolved the same way and linked without following a symlink,
 *   so it is always an inode that is already inside the root.
 */
#include "libijr.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A record's header is struct ijr_extract_record, declared with the rest of what TypeScript
 * and C share (lib/native/abi.ts, rendered into ijr_abi.h). */

struct extract {
  int root_fd;
  /* The regular file being written, between FILE and FILE_END (it may span batches). */
  int file_fd;
  struct ijr_extract_record file_meta;
  char file_path[IJR_EXTRACT_PATH_MAX + 1];
  /* The last parent directory resolved: tarballs list a directory's entries together, so
   * most entries reuse it. Dropped whenever an entry replaces a non-directory, because that
   * may have been a symlink the cached resolution went through. */
  int parent_fd;
  int parent_stale;
  size_t parent_len;
  char parent[IJR_EXTRACT_PATH_MAX + 1];
  /* NUL-terminated copies of the current record's path and link. */
  char path[IJR_EXTRACT_PATH_MAX + 1];
  char link[IJR_EXTRACT_PATH_MAX + 1];
  char scratch[IJR_EXTRACT_PATH_MAX + 1];
};

/* Writes "<what> <path>: <reason>" into err and returns -error. Batches run on Deno's pool
 * threads: strerror_r (GNU: returns the text, in buf or static), never strerror, whose buffer
 * is shared. */
static int32_t fail(char *err, size_t err_len, int error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int32_t fail(char *err, size_t err_len, int error, const char *fmt, ...) {
  if (err_len > 0) {
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(err, err_len, fmt, args);
    va_end(args);
    if (n >= 0 && (size_t)n < err_len) {
      char buf[128];
      snprintf(err + n, err_len - (size_t)n, ": %s", strerror_r(error, buf, sizeof(buf)));
    }
  }
  return -error;
}

/* Opens a directory inside the root. EAGAIN is openat2's "a rename raced with '..'
 * resolution, try again"; nothing renames inside a new root, but retrying costs nothing. */
static int open_dir_in_root(int root_fd, const char *path) {
  struct open_how how = {
      .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  for (int attempt = 0; attempt < 8; attempt++) {
    long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
    if (fd >= 0) return (int)fd;
    if (errno != EAGAIN && errno != EINTR) return -1;
  }
  return -1;
}

/* Creates the missing directories of dir (NUL-terminated, writable) one component at a
 * time: each prefix is looked up confined to the root, and a missing component is made
 * with mkdirat in the directory the previous lookup returned. Implicit directories get
 * mode 0755 and the caller's owner, as GNU tar gives them. Returns an fd or -1 (errno). */
static int make_parents(int root_fd, char *dir) {
  int current = root_fd;
  char *component = dir;
  for (;;) {
    char *slash = strchr(component, '/');
    if (slash) *slash = '\0';
    int fd = open_dir_in_root(root_fd, dir);
    if (fd < 0 && errno == ENOENT) {
      int made = mkdirat(current, component, 0755) == 0;
      if (!made && errno != EEXIST) fd = -1;
      else {
        fd = open_dir_in_root(root_fd, dir);
        /* The umask may have narrowed 0755; an implicit directory must be traversable. */
        if (fd >= 0 && made && fchmod(fd, 0755) < 0) {
          int saved = errno;
          (void)close(fd);
          errno = saved;
          fd = -1;
        }
      }
    }
    if (current != root_fd) {
      int saved = errno;
      (void)close(current);
      errno = saved;
    }
    if (slash) *slash = '/';
    if (fd < 0) return -1;
    current = fd;
    if (!slash) return current;
    component = slash + 1;
  }
}

static void drop_parent(struct extract *x) {
  if (x->parent_fd >= 0) close(x->parent_fd);
  x->parent_fd = -1;
  x->parent_len = 0;
  x->parent_stale = 0;
}

/* Splits x->path into its directory and last component and returns a borrowed fd for the
 * directory (the root or the cached parent), creating missing directories when create is
 * set. *name points at the last component. Returns -1 with errno on failure. */
static int resolve_parent(struct extract *x, const char *path, size_t len, int create,
                          const char **name) {
  const char *slash = memrchr(path, '/', len);
  if (!slash) {
    *name = path;
    return x->root_fd;
  }
  *name = slash + 1;
  size_t dir_len = (size_t)(slash - path);
  if (x->parent_stale) drop_parent(x);
  if (x->parent_fd >= 0 && x->parent_len == dir_len && memcmp(x->parent, path, dir_len) == 0) {
    return x->parent_fd;
  }
  drop_parent(x);
  memcpy(x->parent, path, dir_len);
  x->parent[dir_len] = '\0';
  int fd = open_dir_in_root(x->root_fd, x->parent);
  if (fd < 0 && errno == ENOENT && create) {
    memcpy(x->scratch, x->parent, dir_len + 1);
    fd = make_parents(x->root_fd, x->scratch);
  }
  if (fd < 0) return -1;
  x->parent_fd = fd;
  x->parent_len = dir_len;
  return fd;
}

/* The last component must be a plain name: the caller normalises, this re-checks, because
 * "." or ".." here would name the parent or the grandparent instead of a new entry. */
static int plain_name(const char *name) {
  return name[0] != '\0' && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int write_all(int fd, const uint8_t *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

static void mtime_of(const struct ijr_extract_record *r, struct timespec times[2]) {
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT; /* atime: left at extraction time, as GNU tar does */
  times[1].tv_sec = (time_t)r->mtime_sec;
  times[1].tv_nsec = r->mtime_nsec;
}

/* Removes a non-directory that an entry replaces (a later entry of the same name wins, as in
 * GNU tar). A directory is never removed: replacing one with a symlink midway is how an
 * archive would redirect the entries that follow. */
static int remove_for_replace(struct extract *x, int dir_fd, const char *name) {
  if (unlinkat(dir_fd, name, 0) < 0) return -1;
  x->parent_stale = 1;
  return 0;
}

/* Sets owner, then mode (chown clears setuid/setgid), then mtime of an open fd. */
static int apply_meta(int fd, const struct ijr_extract_record *r, int with_time) {
  if (fchown(fd, r->uid, r->gid) < 0) return -1;
  if (fchmod(fd, r->mode & 07777) < 0) return -1;
  if (with_time) {
    struct timespec times[2];
    mtime_of(r, times);
    if (futimens(fd, times) < 0) return -1;
  }
  return 0;
}

static int32_t op_dir(struct extract *x, const struct ijr_extract_record *r, char *err, size_t err_len) {
  if (r->path_len == 0) {
    if (apply_meta(x->root_fd, r, 0) < 0) {
      return fail(err, err_len, errno, "cannot set owner and mode of the root directory");
    }
    return 0;
  }
  const char *name;
  int dir_fd = resolve_parent(x, x->path, r->path_len, 1, &name);
  if (dir_fd < 0) return fail(err, err_len, errno, "cannot open the parent of \"/%s\"", x->path);
  if (!plain_name(name)) return fail(err, err_len, EINVAL, "bad directory name \"/%s\"", x->path);
  if (mkdirat(dir_fd, name, 0700) < 0) {
    if (errno != EEXIST) return fail(err, err_len, errno, "cannot create directory \"/%s\"", x->path);
    /* Listed twice, or listed after a child created it: fine if it is a real directory. */
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      return fail(err, err_len, errno, "cannot inspect \"/%s\"", x->path);
    }
    if (!S_ISDIR(st.st_mode)) {
      return fail(err, err_len, EEXIST, "directory \"/%s\" is already a non-directory", x->path);
    }
  }
  int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fail(err, err_len, errno, "cannot open directory \"/%s\"", x->path);
  int rc = apply_meta(fd, r, 0);
  int saved = errno;
  (void)close(fd);
  if (rc < 0) return fail(err, err_len, saved, "cannot set owner and mode of \"/%s\"", x->path);
  return 0;
}

static int32_t op_file(struct extract *x, const struct ijr_extract_record *r, char *err, size_t err_len) {
  if (x->file_fd >= 0) return fail(err, err_len, EINVAL, "file \"/%s\" was not ended", x->file_path);
  const char *name;
  int dir_fd = resolve_parent(x, x->path, r->path_len, 1, &name);
  if (dir_fd < 0) return fail(err, err_len, errno, "cannot open the parent of \"/%s\"", x->path);
  if (!plain_name(name)) return fail(err, err_len, EINVAL, "bad file name \"/%s\"", x->path);
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = openat(dir_fd, name, flags, 0600);
  if (fd < 0 && errno == EEXIST) {
    if (remove_for_replace(x, dir_fd, name) < 0) {
      return fail(err, err_len, errno, "cannot replace \"/%s\" with a file", x->path);
    }
    fd = openat(dir_fd, name, flags, 0600);
  }
  if (fd < 0) return fail(err, err_len, errno, "cannot create file \"/%s\"", x->path);
  x->file_fd = fd;
  x->file_meta = *r;
  memcpy(x->file_path, x->path, r->path_len + 1);
  return 0;
}

static int32_t op_file_end(struct extract *x, char *err, size_t err_len) {
  if (x->file_fd < 0) return fail(err, err_len, EINVAL, "no file is open");
  int fd = x->file_fd;
  x->file_fd = -1;
  int rc = apply_meta(fd, &x->file_meta, 1);
  int saved = errno;
  if (close(fd) < 0 && rc == 0) {
    rc = -1;
    saved = errno;
  }
  if (rc < 0) return fail(err, err_len, saved, "cannot finish file \"/%s\"", x->file_path);
  return 0;
}

static int32_t op_symlink(struct extract *x, const struct ijr_extract_record *r, char *err, size_t err_len) {
  const char *name;
  int dir_fd = resolve_parent(x, x->path, r->path_len, 1, &name);
  if (dir_fd < 0) return fail(err, err_len, errno, "cannot open the parent of \"/%s\"", x->path);
  if (!plain_name(name)) return fail(err, err_len, EINVAL, "bad symlink name \"/%s\"", x->path);
  /* The target is stored verbatim and never resolved here. */
  if (symlinkat(x->link, dir_fd, name) < 0) {
    if (errno != EEXIST || remove_for_replace(x, dir_fd, name) < 0 ||
        symlinkat(x->link, dir_fd, name) < 0) {
      return fail(err, err_len, errno, "cannot create symlink \"/%s\"", x->path);
    }
  }
  struct timespec times[2];
  mtime_of(r, times);
  if (fchownat(dir_fd, name, r->uid, r->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
      utimensat(dir_fd, name, times, AT_SYMLINK_NOFOLLOW) < 0) {
    return fail(err, err_len, errno, "cannot set owner and mtime of symlink \"/%s\"", x->path);
  }
  return 0;
}

static int32_t op_hardlink(struct extract *x, const struct ijr_extract_record *r, char *err, size_t err_len) {
  /* Resolve the source first, on its own fd: the parent cache holds the destination. */
  const char *slash = memrchr(x->link, '/', r->link_len);
  const char *source_name = slash ? slash + 1 : x->link;
  int source_dir = x->root_fd;
  if (slash) {
    size_t dir_len = (size_t)(slash - x->link);
    memcpy(x->scratch, x->link, dir_len);
    x->scratch[dir_len] = '\0';
    source_dir = open_dir_in_root(x->root_fd, x->scratch);
    if (source_dir < 0) {
      return fail(err, err_len, errno, "hard link \"/%s\": target \"/%s\" is not in the archive",
                  x->path, x->link);
    }
  }
  int32_t rc = 0;
  const char *name;
  int dir_fd = resolve_parent(x, x->path, r->path_len, 1, &name);
  if (dir_fd < 0) {
    rc = fail(err, err_len, errno, "cannot open the parent of \"/%s\"", x->path);
  } else if (!plain_name(name) || !plain_name(source_name)) {
    rc = fail(err, err_len, EINVAL, "bad hard link \"/%s\" -> \"/%s\"", x->path, x->link);
  } else if (linkat(source_dir, source_name, dir_fd, name, 0) < 0) {
    /* flags 0: a symlink source is linked itself, never followed out of the root. */
    int error = errno;
    struct stat source, existing;
    if (error == EEXIST && fstatat(source_dir, source_name, &source, AT_SYMLINK_NOFOLLOW) == 0 &&
        fstatat(dir_fd, name, &existing, AT_SYMLINK_NOFOLLOW) == 0 &&
        source.st_dev == existing.st_dev && source.st_ino == existing.st_ino) {
      error = 0; /* already that very inode (listed twice) */
    } else if (error == EEXIST && remove_for_replace(x, dir_fd, name) == 0) {
      error = linkat(source_dir, source_name, dir_fd, name, 0) < 0 ? errno : 0;
    } else if (error == EEXIST) {
      error = errno;
    }
    if (error == ENOENT) {
      rc = fail(err, err_len, error, "hard link \"/%s\": target \"/%s\" is not in the archive",
                x->path, x->link);
    } else if (error != 0) {
      rc = fail(err, err_len, error, "cannot create hard link \"/%s\" -> \"/%s\"", x->path, x->link);
    }
  }
  if (source_dir != x->root_fd) close(source_dir);
  return rc;
}

static int32_t op_dir_time(struct extract *x, const struct ijr_extract_record *r, char *err, size_t err_len) {
  struct timespec times[2];
  mtime_of(r, times);
  if (r->path_len == 0) {
    if (futimens(x->root_fd, times) < 0) {
      return fail(err, err_len, errno, "cannot set the mtime of the root directory");
    }
    return 0;
  }
  const char *name;
  int dir_fd = resolve_parent(x, x->path, r->path_len, 0, &name);
  if (dir_fd < 0) return fail(err, err_len, errno, "cannot open the parent of \"/%s\"", x->path);
  if (!plain_name(name)) return fail(err, err_len, EINVAL, "bad directory name \"/%s\"", x->path);
  /* NOFOLLOW: if a later entry replaced the directory by a symlink, touch the link only. */
  if (utimensat(dir_fd, name, times, AT_SYMLINK_NOFOLLOW) < 0) {
    return fail(err, err_len, errno, "cannot set the mtime of directory \"/%s\"", x->path);
  }
  return 0;
}

void *ijr_extract_begin(const char *root_path, char *err, size_t err_len) {
  struct extract *x = calloc(1, sizeof(*x));
  if (!x) {
    fail(err, err_len, ENOMEM, "cannot allocate the extraction state");
    return NULL;
  }
  /* O_NOFOLLOW: the root itself must be the directory the store created, not a symlink. */
  x->root_fd = open(root_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (x->root_fd < 0) {
    fail(err, err_len, errno, "cannot open extraction root \"%s\"", root_path);
    free(x);
    return NULL;
  }
  x->file_fd = -1;
  x->parent_fd = -1;
  return x;
}

int32_t ijr_extract_batch(void *handle, const uint8_t *batch, size_t len, char *err,
                          size_t err_len) {
  struct extract *x = handle;
  size_t offset = 0;
  while (offset < len) {
    struct ijr_extract_record r;
    if (len - offset < sizeof(r)) return fail(err, err_len, EINVAL, "truncated record header");
    memcpy(&r, batch + offset, sizeof(r));
    offset += sizeof(r);
    if (r.path_len > IJR_EXTRACT_PATH_MAX || r.link_len > IJR_EXTRACT_PATH_MAX) {
      return fail(err, err_len, ENAMETOOLONG, "record path or link too long");
    }
    if (len - offset < (uint64_t)r.path_len + r.link_len ||
        len - offset - r.path_len - r.link_len < r.data_len) {
      return fail(err, err_len, EINVAL, "truncated record");
    }
    memcpy(x->path, batch + offset, r.path_len);
    x->path[r.path_len] = '\0';
    offset += r.path_len;
    memcpy(x->link, batch + offset, r.link_len);
    x->link[r.link_len] = '\0';
    offset += r.link_len;
    const uint8_t *data = batch + offset;
    offset += r.data_len;
    /* An embedded NUL would silently shorten the path the kernel sees. */
    if (strlen(x->path) != r.path_len || strlen(x->link) != r.link_len) {
      return fail(err, err_len, EINVAL, "path or link contains a NUL byte");
    }
    int32_t rc;
    switch (r.op) {
    case IJR_EXTRACT_DIR:
      rc = op_dir(x, &r, err, err_len);
      break;
    case IJR_EXTRACT_FILE:
      rc = op_file(x, &r, err, err_len);
      break;
    case IJR_EXTRACT_DATA:
      if (x->file_fd < 0) rc = fail(err, err_len, EINVAL, "data without an open file");
      else if (write_all(x->file_fd, data, r.data_len) < 0) {
        rc = fail(err, err_len, errno, "cannot write file \"/%s\"", x->file_path);
      } else rc = 0;
      break;
    case IJR_EXTRACT_FILE_END:
      rc = op_file_end(x, err, err_len);
      break;
    case IJR_EXTRACT_SYMLINK:
      rc = op_symlink(x, &r, err, err_len);
      break;
    case IJR_EXTRACT_HARDLINK:
      rc = op_hardlink(x, &r, err, err_len);
      break;
    case IJR_EXTRACT_DIR_TIME:
      rc = op_dir_time(x, &r, err, err_len);
      break;
    default:
      rc = fail(err, err_len, EINVAL, "unknown record op %u", r.op);
    }
    if (rc < 0) return rc;
  }
  return 0;
}

int32_t ijr_extract_end(void *handle) {
  struct extract *x = handle;
  if (!x) return 0;
  int32_t rc = 0;
  if (x->file_fd >= 0 && close(x->file_fd) < 0) rc = -errno;
  drop_parent(x);
  (void)close(x->root_fd);
  free(x);
  return rc;
}

int32_t ijr_rename(const char *from, const char *to, uint32_t flags) {
  if (renameat2(AT_FDCWD, from, AT_FDCWD, to, flags) < 0) return -errno;
  return 0;
}

int32_t ijr_syncfs(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = syncfs(fd) < 0 ? -errno : 0;
  (void)close(fd);
  return rc;
}
