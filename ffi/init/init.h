/* The job's init (ffi/init/): what its parts share. */
#ifndef IJR_INIT_H
#define IJR_INIT_H

#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

#include "../job_child.h"

/* The job, from the init's command line (main.c). The descriptors are fixed:
 * IJR_INIT_END_FD, IJR_INIT_ERROR_FD and IJR_INIT_OUTPUT_FD (ijr_abi.h). */
struct init_job {
  uint64_t max_output_bytes; /* 0: no limit */
  uint64_t timeout_ms;       /* 0: none */
  uint64_t grace_ms;
  const char *workdir;
  char *const *argv;
  char *const *envp;
};

#define IJR_STRINGIFY_(x) #x
#define IJR_STRINGIFY(x) IJR_STRINGIFY_(x)

/* The signals the init takes through its signalfd: blocked from the start, so none that
 * arrives before the supervisor is ready is lost (the command unblocks them for itself). */
void ijr_waited_signals(sigset_t *set);

/* Starts the command's process (command.c): returns its PID once it runs, or reports the
 * failure on IJR_INIT_ERROR_FD and exits. `output_fd` becomes its stdout and stderr. */
pid_t ijr_start_command(const struct init_job *job);

/* Supervises the command until it ends (supervise.c): forwards signals, reaps orphans,
 * stops the job on its timeout or output limit, reports the end, exits with it. */
void ijr_supervise(const struct init_job *job, pid_t command) __attribute__((noreturn));

/* Reports a failure to start on IJR_INIT_ERROR_FD and exits 125. */
void ijr_init_fail(enum ijr_spawn_step step, int err, const char *detail)
    __attribute__((noreturn));

#endif
