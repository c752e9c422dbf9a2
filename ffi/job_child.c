/*
 * The cloned child's checklist, in the style of runc's standard_init_linux.go and nsjail's
 * containProc: one named step per line, in order, each with the same entry point; the first
 * that fails has reported (step, errno, detail) on the error pipe, and the child exits.
 * What each step does lives with its kernel concern (job_mounts.c, job_mask.c, job_net.c,
 * job_fds.c, job_caps.c, job_cgroups.c); the few one-call steps are here.
 */
#include "job_child.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Die with the daemon's thread (unless ijrd keeps jobs across its restarts). */
static int set_parent_death_signal(struct ijr_child *child) {
  if (!child->parent_death_signal) return 0;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return ijr_fail(child, errno, "", "");
  return 0;
}

/* v1: the cgroup namespace's root is the cgroup the process is in at unshare time, so this
 * follows joining the job's cgroups. (v2 gets both from clone3 at once.) */
static int unshare_cgroup_namespace(struct ijr_child *child) {
  if (!child->unshare_cgroup_namespace) return 0;
  if (unshare(CLONE_NEWCGROUP) != 0) return ijr_fail(child, errno, "", "");
  return 0;
}

static int set_hostname(struct ijr_child *child) {
  if (sethostname(child->hostname, strlen(child->hostname)) != 0) {
    return ijr_fail(child, errno, child->hostname, "");
  }
  return 0;
}

/* No exec may gain privileges (setuid files, file capabilities) from here on. */
static int set_no_new_privs(struct ijr_child *child) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ijr_fail(child, errno, "", "");
  return 0;
}

/* The init from its sealed memfd, with the job's environment and the descriptors job_fds.c
 * arranged:
 *   ijr-init PROTOCOL MAX_OUTPUT_BYTES TIMEOUT_MS GRACE_MS WORKDIR COMMAND [ARGS...] */
static int exec_init(struct ijr_child *child) {
  size_t argc = 0;
  while (child->argv[argc]) argc++;
  char numbers[4][24];
  const uint64_t values[4] = {IJR_INIT_PROTOCOL_VERSION, child->max_output_bytes,
                              child->timeout_ms, child->grace_ms};
  for (int i = 0; i < 4; i++) {
    struct ijr_text text = {numbers[i], 0, sizeof(numbers[i]), 0};
    ijr_text_put_u64(&text, values[i]);
  }
  char *init_argv[IJR_SPAWN_MAX_STRINGS + 7];
  init_argv[0] = "ijr-init";
  for (int i = 0; i < 4; i++) init_argv[1 + i] = numbers[i];
  init_argv[5] = (char *)child->workdir;
  for (size_t i = 0; i <= argc; i++) init_argv[6 + i] = child->argv[i];
  syscall(SYS_execveat, child->init_program_fd, "", init_argv, child->envp, AT_EMPTY_PATH);
  return ijr_fail(child, errno, "ijr-init", "");
}

struct step {
  enum ijr_spawn_step id;
  ijr_step_fn run;
};

/* Below, in order: every mount as the host's root, in a mount namespace the host owns (the job
 * can mount nothing); the network opened; the descriptors closed; then the job's user
 * namespace, its parent-death signal (changing ids clears it), its capabilities, no new
 * privileges and the seccomp filter, as the last steps before the init. (The output limit is
 * the command's, set by the init: the init's own report must never be cut short by it.)
 */
static const struct step CHECKLIST[] = {
    {IJR_STEP_ENTER_MADE_NAMESPACES, ijr_enter_made_namespaces},
    {IJR_STEP_JOIN_CGROUPS, ijr_join_cgroups},
    {IJR_STEP_UNSHARE_CGROUP_NAMESPACE, unshare_cgroup_namespace},
    {IJR_STEP_SET_HOSTNAME, set_hostname},
    {IJR_STEP_MAKE_MOUNTS_PRIVATE, ijr_make_mounts_private},
    {IJR_STEP_MOUNT_SCRATCH, ijr_mount_scratch},
    {IJR_STEP_PREPARE_WRITABLE_LAYER, ijr_prepare_writable_layer},
    {IJR_STEP_IDMAP_ROOTFS, ijr_idmap_rootfs},
    {IJR_STEP_INSPECT_ROOTFS, ijr_inspect_rootfs},
    {IJR_STEP_MOUNT_ROOT, ijr_mount_root},
    {IJR_STEP_MOUNT_PROC, ijr_mount_proc},
    {IJR_STEP_MOUNT_DEV, ijr_mount_dev},
    {IJR_STEP_MOUNT_SYS, ijr_mount_sys},
    {IJR_STEP_MOUNT_TMP, ijr_mount_tmp},
    {IJR_STEP_PIVOT_ROOT, ijr_pivot_root},
    {IJR_STEP_OPEN_NETWORK, ijr_open_network}, /* before mask_paths makes /proc/sys read-only */
    {IJR_STEP_MASK_PATHS, ijr_mask_paths},
    {IJR_STEP_LOOPBACK_UP, ijr_loopback_up},
    {IJR_STEP_ARRANGE_DESCRIPTORS, ijr_arrange_descriptors},
    {IJR_STEP_ENTER_USER_NAMESPACE, ijr_enter_user_namespace},
    {IJR_STEP_SET_PARENT_DEATH_SIGNAL, set_parent_death_signal},
    {IJR_STEP_DROP_CAPABILITIES, ijr_drop_capabilities},
    {IJR_STEP_SET_NO_NEW_PRIVS, set_no_new_privs},
    {IJR_STEP_INSTALL_SECCOMP, ijr_install_seccomp},
    {IJR_STEP_EXEC_INIT, exec_init}, /* returns only on failure */
};

int ijr_child_main(void *arg) {
  struct ijr_child child = *(const struct ijr_child *)arg;
  for (size_t i = 0; i < sizeof(CHECKLIST) / sizeof(CHECKLIST[0]); i++) {
    child.step = CHECKLIST[i].id;
    if (CHECKLIST[i].run(&child) != 0) break;
    /* A probe of the mounts ends with the job's root mounted: EOF on the error pipe. */
    if (child.probe_mounts && CHECKLIST[i].id == IJR_STEP_MOUNT_ROOT) _exit(0);
  }
  _exit(125);
}
