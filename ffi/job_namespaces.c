/*
 * A job's network and IPC namespaces, made ahead of its start. Making a network namespace
 * is the dearest part of a clone (the kernel sets up a loopback device, its sysctl tables and
 * the protocols' per-namespace state: 0.3 ms warm and 0.5 ms after a rest on this project's
 * VM, where the clone's other four namespaces together cost 0.05-0.2 ms), so ijrd makes them
 * in the background (lib/job/namespace_pool.ts) and the job's child enters a pair instead of
 * asking the clone for new ones. Each pair is fresh and serves exactly one job: a namespace a
 * job has been in is never handed to another.
 */
#include "job_child.h"
#include "libijr.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ffi/clone3_run.S: clone3 that runs fn(arg) on the child's new stack. */
long ijr_clone3_run(struct clone_args *args, size_t size, int (*fn)(void *), void *arg)
    __attribute__((visibility("hidden")));

/* What the maker and its helper share (CLONE_VM): the helper fills it in before it exits. */
struct maker {
  int net_fd, ipc_fd;
  int err; /* the helper's errno when it failed */
};

static int open_own_namespace(const char *path, struct maker *maker) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) maker->err = errno;
  return fd;
}

/* The helper, in the new namespaces: brings the loopback up (as every job's child did
 * before) and opens both namespaces into the descriptor table it shares with ijrd
 * (CLONE_FILES), so they outlive it. It shares ijrd's memory, so it touches only its stack
 * and `maker`. */
static int helper_main(void *arg) {
  struct maker *maker = arg;
  maker->err = ijr_bring_loopback_up();
  if (maker->err != 0) _exit(1);
  maker->net_fd = open_own_namespace("/proc/self/ns/net", maker);
  if (maker->net_fd < 0) _exit(1);
  maker->ipc_fd = open_own_namespace("/proc/self/ns/ipc", maker);
  if (maker->ipc_fd < 0) _exit(1);
  _exit(0);
}

int32_t ijr_make_namespaces(struct ijr_made_namespaces *out) {
  if (!out) return -EINVAL;
  struct ijr_child_stack stack;
  int rc = ijr_child_stack_map(&stack, 64 * 1024);
  if (rc != 0) return rc;
  struct maker maker = {-1, -1, 0};
  /* Signals stay blocked in the helper: it shares this process's memory and handlers. No
   * exit signal: ijrd's SIGCHLD listener has nothing to do with it; it is reaped here. */
  sigset_t all, saved;
  sigfillset(&all);
  rc = pthread_sigmask(SIG_SETMASK, &all, &saved);
  if (rc != 0) {
    ijr_child_stack_unmap(&stack);
    return -rc;
  }
  struct clone_args args;
  memset(&args, 0, sizeof(args));
  args.flags = CLONE_NEWNET | CLONE_NEWIPC | CLONE_VM | CLONE_FILES | CLONE_VFORK;
  args.exit_signal = 0;
  args.stack = (uint64_t)(uintptr_t)stack.base;
  args.stack_size = stack.bytes;
  long pid = ijr_clone3_run(&args, sizeof(args), helper_main, &maker);
  if (pid == -ENOSYS) {
    /* Kernels before 5.3 have no clone3. */
    pid = clone(helper_main, stack.base + stack.bytes,
                CLONE_NEWNET | CLONE_NEWIPC | CLONE_VM | CLONE_FILES | CLONE_VFORK, &maker);
    if (pid < 0) pid = -errno;
  }
  /* Restoring a mask saved a moment ago cannot fail; if it did, this thread would stay deaf
   * to signals, so say so rather than carry on. */
  if (pthread_sigmask(SIG_SETMASK, &saved, NULL) != 0) abort();
  int result = pid < 0 ? (int)pid : 0;
  if (pid > 0) {
    int status = 0;
    while (waitpid((pid_t)pid, &status, __WCLONE) < 0) {
      if (errno != EINTR) {
        result = -errno;
        break;
      }
    }
    if (result == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      result = -(maker.err > 0 ? maker.err : EPROTO);
    }
  }
  ijr_child_stack_unmap(&stack);
  if (result != 0) {
    if (maker.net_fd >= 0) (void)close(maker.net_fd);
    if (maker.ipc_fd >= 0) (void)close(maker.ipc_fd);
    return result;
  }
  out->net_fd = maker.net_fd;
  out->ipc_fd = maker.ipc_fd;
  return 0;
}

/* The child's step: into the namespaces made ahead, when it has them (the clone made new
 * ones otherwise). ijrd's copies of the descriptors are closed by ijrd after the spawn, the
 * child's here: nothing of them reaches the job. */
int ijr_enter_made_namespaces(struct ijr_child *child) {
  if (child->net_ns_fd >= 0) {
    if (setns(child->net_ns_fd, CLONE_NEWNET) != 0) return ijr_fail(child, errno, "network", "");
    if (close(child->net_ns_fd) != 0) return ijr_fail(child, errno, "network", "");
    child->net_ns_fd = -1;
    child->loopback_is_up = 1;
  }
  if (child->ipc_ns_fd >= 0) {
    if (setns(child->ipc_ns_fd, CLONE_NEWIPC) != 0) return ijr_fail(child, errno, "ipc", "");
    if (close(child->ipc_ns_fd) != 0) return ijr_fail(child, errno, "ipc", "");
    child->ipc_ns_fd = -1;
  }
  return 0;
}
