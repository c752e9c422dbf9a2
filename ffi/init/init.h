/* The job's init (ffi/init/): what main() hands to the supervisor. */
#ifndef IJR_INIT_H
#define IJR_INIT_H

#include "../job_child.h"

/* The job: its working directory, command and environment. The descriptors are fixed:
 * IJR_INIT_STATUS_FD, IJR_INIT_ERROR_FD and IJR_INIT_OUTPUT_FD (ijr_abi.h). */
struct init_job {
  const char *workdir;
  char *const *argv;
  char *const *envp;
};

/* Starts the command, forwards signals, reaps, reports; never returns. */
void ijr_run_init(const struct init_job *job) __attribute__((noreturn));

#endif
