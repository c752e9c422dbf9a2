/* Error reports from the child to ijr_spawn, built without malloc or stdio. */
#include "job_child.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static size_t append(char *buf, size_t pos, size_t cap, const char *text) {
  while (text && *text && pos + 1 < cap) buf[pos++] = *text++;
  buf[pos] = '\0';
  return pos;
}

/* strerror is not async-signal-safe (it may format into a static buffer under a lock in some
 * libcs); the few errnos a spawn meets get their own words, the rest a number. */
static const char *errno_text(int err, char *scratch, size_t cap) {
  switch (err) {
    case ENOENT: return "no such file or directory";
    case EACCES: return "permission denied";
    case EPERM: return "operation not permitted";
    case ENOEXEC: return "exec format error";
    case ENOTDIR: return "not a directory";
    case EISDIR: return "is a directory";
    case ENOMEM: return "out of memory";
    case EBUSY: return "device or resource busy";
    case EINVAL: return "invalid argument";
    case ELOOP: return "too many levels of symbolic links";
    case E2BIG: return "argument list too long";
    case ENAMETOOLONG: return "file name too long";
    case EAGAIN: return "resource temporarily unavailable";
    default: break;
  }
  char digits[16];
  int n = 0;
  int value = err < 0 ? -err : err;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value && n < 15);
  size_t pos = append(scratch, 0, cap, "errno ");
  while (n > 0 && pos + 1 < cap) scratch[pos++] = digits[--n];
  scratch[pos] = '\0';
  return scratch;
}

int ijr_report(int fd, int err, const char *a, const char *b, const char *c) {
  struct ijr_report report;
  char scratch[24];
  memset(&report, 0, sizeof(report));
  report.err = err;
  size_t cap = sizeof(report.message);
  size_t pos = append(report.message, 0, cap, a);
  pos = append(report.message, pos, cap, b);
  pos = append(report.message, pos, cap, c);
  if (err) {
    pos = append(report.message, pos, cap, ": ");
    append(report.message, pos, cap, errno_text(err, scratch, sizeof(scratch)));
  }
  /* One write below PIPE_BUF is atomic; nothing useful can be done if it fails. */
  ssize_t ignored = write(fd, &report, sizeof(report));
  (void)ignored;
  return -1;
}
