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
                              uint64_t reserve_len) {
  int fd = open(temp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
  if (fd < 0) return -errno;
  int rc = write_all(fd, data, len);
  /* Only a longer file (the reserved room) needs cutting; a temp that is not a regular file
   * (a test's FIFO) cannot be truncated and needs none. */
  struct stat st;
  if (rc == 0 && fstat(fd, &st) != 0) rc = -errno;
  if (rc == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > len &&
      ftruncate(fd, (off_t)len) != 0) {
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
  if (rename(temp, path) != 0) {
    int err = errno;
    (void)unlink(temp);
    return -err;
  }
  return reserve_path ? reserve(reserve_path, reserve_len, mode) : 0;
}
