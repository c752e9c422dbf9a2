/*
 * ijr-init's entry point. The spawner execs it inside the job's namespaces and root as
 *
 *   ijr-init WORKDIR COMMAND [ARGS...]
 *
 * with the job's environment and exactly these descriptors: 0, 1 and 2 on the job's
 * /dev/null, IJR_INIT_STATUS_FD (where to report the command's end), IJR_INIT_ERROR_FD
 * (where to report a failure to start it) and IJR_INIT_OUTPUT_FD (the job's output).
 */
#include "init.h"

int main(int argc, char **argv, char **envp) {
  if (argc < 3) return 125;
  struct init_job job = {.workdir = argv[1], .argv = argv + 2, .envp = envp};
  ijr_run_init(&job);
}
