/* Small files replaced atomically in one call (see record_file.h). */
#include "record_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int32_t ijr_write_file_atomic(const char *temp, const char *path, const uint8_t *data,
                              uint64_t len, uint32_t mode) {
  int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
  if (fd < 0) return -errno;
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, data + done, (size_t)(len - done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      (void)close(fd);
      (void)unlink(temp);
      return -err;
    }
    done += (uint64_t)n;
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
  return 0;
}
