/*
 * ijr-init's entry point. The spawner execs it inside the job's namespaces and root as
 *
 *   ijr-init PROTOCOL MAX_OUTPUT_BYTES TIMEOUT_MS GRACE_MS WORKDIR COMMAND [ARGS...]
 *
 * with the job's environment and exactly these descriptors: 0, 1 and 2 on the job's
 * /dev/null, IJR_INIT_END_FD (the file to record the command's end in), IJR_INIT_ERROR_FD
 * (where to report a failure to start it) and IJR_INIT_OUTPUT_FD (the job's output).
 * PROTOCOL is IJR_INIT_PROTOCOL_VERSION: an init of another version refuses to run rather
 * than misread its arguments.
 */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static int number_argument(const char *text, uint64_t *out) {
  uint64_t value = 0;
  if (!*text) return -1;
  for (const char *c = text; *c; c++) {
    if (*c < '0' || *c > '9' || value > (UINT64_MAX - 9) / 10) return -1;
    value = value * 10 + (uint64_t)(*c - '0');
  }
  *out = value;
  return 0;
}

void ijr_init_fail(enum ijr_spawn_step step, int err, const char *detail) {
  ijr_report(IJR_INIT_ERROR_FD, step, err, detail, "");
  _exit(125);
}

/* Non-dumpable first: from here on the job's processes cannot open /proc/1/fd/N (the
 * end file among them), /proc/1/mem or /proc/1/environ; exec made the init dumpable
 * again. The name: executed from a memfd, the process would be "memfd:ijr-init" in ps. And
 * none of the three descriptors may reach the command except the output, as its stdout and
 * stderr (dup2 clears the flag on the copies). */
static void protect(void) {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) ijr_init_fail(IJR_STEP_INIT_PROTECT, errno, "dumpable");
  if (prctl(PR_SET_NAME, "ijr-init", 0, 0, 0) != 0) ijr_init_fail(IJR_STEP_INIT_PROTECT, errno, "name");
  const int kept[] = {IJR_INIT_END_FD, IJR_INIT_ERROR_FD, IJR_INIT_OUTPUT_FD};
  for (int i = 0; i < 3; i++) {
    if (fcntl(kept[i], F_SETFD, FD_CLOEXEC) != 0) {
      ijr_init_fail(IJR_STEP_INIT_PROTECT, errno, "FD_CLOEXEC");
    }
  }
}

int main(int argc, char **argv, char **envp) {
  protect();
  uint64_t protocol = 0;
  struct init_job job = {.envp = envp};
  if (argc < 7 || number_argument(argv[1], &protocol) != 0 ||
      protocol != IJR_INIT_PROTOCOL_VERSION || number_argument(argv[2], &job.max_output_bytes) != 0 ||
      number_argument(argv[3], &job.timeout_ms) != 0 || number_argument(argv[4], &job.grace_ms) != 0) {
    ijr_init_fail(IJR_STEP_INIT_ARGUMENTS, EINVAL, argc > 1 ? argv[1] : "");
  }
  job.workdir = argv[5];
  job.argv = argv + 6;
  sigset_t waited;
  ijr_waited_signals(&waited);
  if (sigprocmask(SIG_BLOCK, &waited, NULL) != 0) ijr_init_fail(IJR_STEP_INIT_SIGNALS, errno, "mask");
  pid_t command = ijr_start_command(&job);
  ijr_supervise(&job, command);
}
