/*
 * The job's user namespace. Each job runs in one of the user namespaces ijrd's pool keeps,
 * whose ids 0..65535 map to a range of unprivileged host ids no other running job uses: a
 * kernel-level escape from a job leaves the attacker as a host user that owns nothing.
 *
 * The namespaces are made ahead by ijr_make_userns (a short-lived helper process gets the
 * maps; its namespace lives on as a descriptor), so the spawner's parent, suspended by
 * CLONE_VFORK, never has to write a map while its child waits. The child does every mount as
 * the host's root in a mount namespace the host owns (so the job can mount nothing), then
 * enters the job's user namespace as one of its last steps. The rootfs is seen through an
 * idmapped mount: the stored tree keeps its archive's owners on disk, and every job sees them
 * as they were in the archive, mapped into its own range.
 */
#include "job_child.h"
#include "libijr.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif

/* The rootfs through the job's user namespace's eyes: a clone of its tree (open_tree), idmapped
 * with the job's namespace (mount_setattr), attached where the overlay takes its lower layer
 * (move_mount). Linux 5.12 for idmapped mounts; 5.19 for overlays over them. */
int ijr_idmap_rootfs(struct ijr_child *child) {
  if (child->userns_fd < 0) return 0;
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, child->lower_dir,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) return ijr_fail(child, errno, "open_tree ", child->lower_dir);
  struct mount_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = (uint64_t)child->userns_fd;
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) != 0) {
    int err = errno;
    (void)close(tree);
    return ijr_fail(child, err, "mount_setattr ", child->lower_dir);
  }
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, child->lower, MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    int err = errno;
    (void)close(tree);
    return ijr_fail(child, err, "move_mount ", child->lower);
  }
  (void)close(tree); /* the mount stays attached; the descriptor only released */
  return 0;
}

/* Into the job's user namespace, as its root: setns gives every capability there, and the
 * ids become 0, which the namespace maps to the range's start on the host. The host's
 * supplementary groups go first. (Changing ids clears the parent-death signal, which is why
 * that step comes after this one.) */
int ijr_enter_user_namespace(struct ijr_child *child) {
  if (child->userns_fd < 0) {
    /* Without one the job's root is the host's: it still gets none of ijrd's groups. */
    if (syscall(SYS_setgroups, 0, NULL) != 0) return ijr_fail(child, errno, "setgroups", "");
    return 0;
  }
  if (setns(child->userns_fd, CLONE_NEWUSER) != 0) return ijr_fail(child, errno, "setns", "");
  if (close(child->userns_fd) != 0) return ijr_fail(child, errno, "close", "");
  child->userns_fd = -1;
  if (syscall(SYS_setgroups, 0, NULL) != 0) return ijr_fail(child, errno, "setgroups", "");
  if (syscall(SYS_setresgid, 0, 0, 0) != 0) return ijr_fail(child, errno, "setresgid", "");
  if (syscall(SYS_setresuid, 0, 0, 0) != 0) return ijr_fail(child, errno, "setresuid", "");
  return 0;
}

/* --- the pool's namespaces ------------------------------------------------------------- */

struct helper {
  int sync_fd; /* read end: the parent has written the maps */
};

/* The helper, in its new user namespace: waits for the maps, then forbids nested user
 * namespaces in this one (a job never makes its own, even with no seccomp filter), and ends.
 * It shares the caller's memory (CLONE_VM), so it touches only its stack. */
static int helper_main(void *arg) {
  const struct helper *helper = arg;
  char go;
  ssize_t got;
  do {
    got = read(helper->sync_fd, &go, 1);
  } while (got < 0 && errno == EINTR);
  if (got != 1) _exit(2);
  int fd = open("/proc/sys/user/max_user_namespaces", O_WRONLY | O_CLOEXEC);
  if (fd < 0) _exit(3);
  if (write(fd, "0", 1) != 1) _exit(4);
  if (close(fd) != 0) _exit(5);
  _exit(0);
}

static int write_file(const char *path, const char *text, size_t len) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t written = write(fd, text, len);
  int err = written == (ssize_t)len ? 0 : (written < 0 ? errno : EIO);
  if (close(fd) != 0 && err == 0) err = errno;
  return -err;
}

int32_t ijr_make_userns(uint32_t host_uid, uint32_t host_gid, uint32_t count) {
  if (count == 0 || host_uid > UINT32_MAX - count || host_gid > UINT32_MAX - count) return -EINVAL;
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) != 0) return -errno;
  struct ijr_child_stack stack;
  int mapped = ijr_child_stack_map(&stack, 64 * 1024);
  if (mapped != 0) {
    (void)close(sync[0]);
    (void)close(sync[1]);
    return mapped;
  }
  struct helper helper = {sync[0]};
  /* Signals stay blocked in the helper: it shares this process's memory and handlers. */
  sigset_t all, saved;
  sigfillset(&all);
  int rc = pthread_sigmask(SIG_SETMASK, &all, &saved);
  pid_t pid = rc == 0 ? clone(helper_main, stack.base + stack.bytes,
                              CLONE_NEWUSER | CLONE_VM | SIGCHLD, &helper)
                      : -1;
  int err = rc != 0 ? rc : (pid < 0 ? errno : 0);
  if (rc == 0 && pthread_sigmask(SIG_SETMASK, &saved, NULL) != 0) abort();
  int result = -err;
  if (pid > 0) {
    char path[64], map[64];
    struct ijr_text text;
    int fd = -1;
    const char *files[2] = {"uid_map", "gid_map"};
    const uint32_t bases[2] = {host_uid, host_gid};
    result = 0;
    for (int i = 0; i < 2 && result == 0; i++) {
      text = (struct ijr_text){path, 0, sizeof(path), 0};
      ijr_text_put(&text, "/proc/");
      ijr_text_put_u64(&text, (uint64_t)pid);
      ijr_text_put(&text, "/");
      ijr_text_put(&text, files[i]);
      text = (struct ijr_text){map, 0, sizeof(map), 0};
      ijr_text_put(&text, "0 ");
      ijr_text_put_u64(&text, bases[i]);
      ijr_text_put(&text, " ");
      ijr_text_put_u64(&text, count);
      ijr_text_put(&text, "\n");
      result = write_file(path, map, text.len);
    }
    if (result == 0) {
      text = (struct ijr_text){path, 0, sizeof(path), 0};
      ijr_text_put(&text, "/proc/");
      ijr_text_put_u64(&text, (uint64_t)pid);
      ijr_text_put(&text, "/ns/user");
      fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) result = -errno;
    }
    /* Go (or, on failure, EOF: the helper exits either way). */
    if (result == 0 && write(sync[1], "g", 1) != 1) result = -errno;
    (void)close(sync[1]);
    sync[1] = -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) {
        if (result == 0) result = -errno;
        break;
      }
    }
    if (result == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) result = -EPERM;
    if (result == 0) {
      result = fd;
    } else if (fd >= 0) {
      (void)close(fd);
    }
  }
  if (sync[1] >= 0) (void)close(sync[1]);
  (void)close(sync[0]);
  ijr_child_stack_unmap(&stack);
  return result;
}
