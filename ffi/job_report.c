/*
 * Failure reports from the child and the init to ijr_spawn: the step, the errno and the path
 * or name involved, as a struct ijr_spawn_error. No text is made here: TypeScript words it
 * (lib/native/spawn_errors.ts), so C needs neither strerror (not async-signal-safe) nor a
 * table of messages of its own.
 */
#include "job_child.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int ijr_report(int fd, enum ijr_spawn_step step, int err, const char *a, const char *b) {
  struct ijr_spawn_error report;
  memset(&report, 0, sizeof(report));
  report.errno_value = err;
  report.step = (int32_t)step;
  struct ijr_text detail = {report.detail, 0, sizeof(report.detail), 0};
  if (a) ijr_text_put(&detail, a);
  if (b) ijr_text_put(&detail, b);
  /* The reader takes the whole struct or nothing; a failed write leaves it with EOF, which it
   * reports as a start that failed without a reason. Nothing better can be done here. */
  const char *p = (const char *)&report;
  size_t left = sizeof(report);
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= (size_t)n;
  }
  return -1;
}

int ijr_fail(const struct ijr_child *child, int err, const char *a, const char *b) {
  return ijr_report(child->error_fd, child->step, err, a, b);
}
