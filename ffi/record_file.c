/* Small files replaced atomically in one call (see record_file.h). */
#include "record_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const uint8_t *data, uint64_t len) {
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, data + done, (size_t)(len - done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? -errno : -EIO;
    done += (uint64_t)n;
  }
  return 0;
}

/* Whether bytes [from, to) of `fd` are all spaces. */
static int read_spaces(int fd, uint64_t from, uint64_t to) {
  uint8_t buf[4096];
  for (uint64_t at = from; at < to;) {
    size_t want = to - at < sizeof(buf) ? (size_t)(to - at) : sizeof(buf);
    ssize_t n = pread(fd, buf, want, (off_t)at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] != ' ') return 0;
    }
    at += (uint64_t)n;
  }
  return 1;
}

/* Whether bytes [from, to) of the regular file `path` are all spaces (the reserved room, read
 * back: a few KiB from the page cache). Opened again to read: the write side is O_WRONLY, so
 * that a FIFO in its place (a test's) blocks its writer as a pipe does. A read error says no:
 * the file is then cut. */
static int only_spaces_after(const char *path, uint64_t from, uint64_t to) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  int spaces = read_spaces(fd, from, to);
  (void)close(fd);
  return spaces;
}

/* Fills `path` with `len` spaces, so that its blocks are the file's own: a later overwrite of
 * no more than `len` bytes needs no free space. */
static int reserve(const char *path, uint64_t len, uint32_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
  if (fd < 0) return -errno;
  static const uint8_t spaces[4096] = {[0 ... 4095] = ' '};
  int rc = 0;
  for (uint64_t left = len; left > 0 && rc == 0;) {
    uint64_t n = left < sizeof(spaces) ? left : sizeof(spaces);
    rc = write_all(fd, spaces, n);
    left -= n;
  }
  if (close(fd) != 0 && rc == 0) rc = -errno;
  return rc;
}

int32_t ijr_write_file_atomic(const char *temp, const char *path, const uint8_t *data,
                              uint64_t len, uint32_t mode, const char *reserve_path,
                              uint64_t reserve_len, int32_t *replaced_fd) {
  if (replaced_fd) *replaced_fd = -1;
  int fd = open(temp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
  if (fd < 0) return -errno;
  int rc = write_all(fd, data, len);
  /* A longer file is cut to `len` unless what follows is the reserved room's spaces: JSON
   * allows them, and cutting them off made ext4 spend 0.4 ms (the blocks freed under the
   * journal) on a job's end. A temp that is not a regular file (a test's FIFO) cannot be
   * truncated and needs none. */
  struct stat st;
  if (rc == 0 && fstat(fd, &st) != 0) rc = -errno;
  if (rc == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > len &&
      !only_spaces_after(temp, len, (uint64_t)st.st_size) && ftruncate(fd, (off_t)len) != 0) {
    rc = -errno;
  }
  if (rc != 0) {
    (void)close(fd);
    (void)unlink(temp);
    return rc;
  }
  if (close(fd) != 0) {
    int err = errno;
    (void)unlink(temp);
    return -err;
  }
  /* Held open, the replaced file is only unlinked by the rename; without it, the rename frees
   * its inode and blocks (ext4 measured 0.35 ms for that, of a 0.45 ms record). Not being able
   * to hold it (ENOENT: nothing to replace) only costs that time. */
  int held = replaced_fd ? open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW) : -1;
  if (rename(temp, path) != 0) {
    int err = errno;
    if (held >= 0) (void)close(held);
    (void)unlink(temp);
    return -err;
  }
  int rc2 = reserve_path ? reserve(reserve_path, reserve_len, mode) : 0;
  if (rc2 != 0 && held >= 0) {
    /* The call fails: nothing is handed back to release. */
    (void)close(held);
    held = -1;
  }
  if (replaced_fd) *replaced_fd = held;
  return rc2;
}

int32_t ijr_release_replaced(int32_t fd) {
  return close(fd) == 0 ? 0 : -errno;
}
