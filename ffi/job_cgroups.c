/* cgroup v1: the child writes itself into each of its job's cgroups before anything else, so
 * no job code ever runs outside its limits. (v2 uses CLONE_INTO_CGROUP instead.) */
#include "job_child.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int ijr_join_cgroups(const struct ijr_child *child) {
  for (const char *const *path = child->cgroup_procs; path && *path; path++) {
    int fd = open(*path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return ijr_report(child->error_fd, errno, "cannot join cgroup ", *path, "");
    /* "0" means the writing process itself. */
    ssize_t written = write(fd, "0", 1);
    int err = errno;
    close(fd);
    if (written != 1) return ijr_report(child->error_fd, err, "cannot join cgroup ", *path, "");
  }
  return 0;
}
