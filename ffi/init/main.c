/*
 * ijr-init's entry point. The spawner execs it inside the job's namespaces and root as
 *
 *   ijr-init STATUS_FD ERROR_FD OUTPUT_FD WORKDIR COMMAND [ARGS...]
 *
 * with the job's environment. The three descriptors are inherited: where to write the
 * command's final status, where to report a failure to start it, and the job's output.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "../job_child.h"

static int fd_argument(const char *text) {
  char *end;
  long value = strtol(text, &end, 10);
  return (*end == '\0' && value >= 0 && value < 65536) ? (int)value : -1;
}

int main(int argc, char **argv, char **envp) {
  if (argc < 6) return 125;
  struct ijr_child child = {
      .status_fd = fd_argument(argv[1]),
      .error_fd = fd_argument(argv[2]),
      .output_fd = fd_argument(argv[3]),
      .workdir = argv[4],
      .argv = argv + 5,
      .envp = envp,
  };
  if (child.status_fd < 0 || child.error_fd < 0 || child.output_fd < 0) return 125;
  /* Executed from a memfd, the process would be named "memfd:ijr-init" in ps. */
  prctl(PR_SET_NAME, "ijr-init", 0, 0, 0);
  /* None of them may reach the command except as its stdout and stderr (dup2 clears the
   * flag on the copies). */
  fcntl(child.status_fd, F_SETFD, FD_CLOEXEC);
  fcntl(child.error_fd, F_SETFD, FD_CLOEXEC);
  fcntl(child.output_fd, F_SETFD, FD_CLOEXEC);
  ijr_run_init(&child);
}
