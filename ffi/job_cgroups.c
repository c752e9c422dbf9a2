/* cgroup v1: the child writes itself into each of its job's cgroups before anything else, so
 * no job code ever runs outside its limits. (v2 uses CLONE_INTO_CGROUP instead.) It writes the
 * `tasks` files: it is a single thread here, and moving only the writer skips the global
 * rwsem whose writer side waits for an RCU grace period (lib/cgroup/v1.ts). */
#include "job_child.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int ijr_join_cgroups(struct ijr_child *child) {
  for (const char *const *path = child->cgroup_tasks; path && *path; path++) {
    int fd = open(*path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return ijr_fail(child, errno, *path, "");
    /* "0" means the writing process itself. */
    ssize_t written = write(fd, "0", 1);
    int err = written == 1 ? 0 : (written < 0 ? errno : EIO);
    if (close(fd) != 0 && err == 0) err = errno;
    if (err != 0) return ijr_fail(child, err, *path, "");
  }
  return 0;
}
