/*
 * Internal to the spawner: the steps the cloned child runs, one file per kernel concern, and
 * the report they send when one fails.
 *
 * The child shares the daemon's memory (CLONE_VM|CLONE_VFORK) while the daemon's thread
 * waits, so every step is async-signal-safe and writes nothing of the daemon's: no malloc,
 * no stdio, no locks, no static data. It writes to its own stack, and to errno: errno is a
 * thread-local of the thread that called clone, whose value the spawner does not read after
 * the child is gone. Each step returns 0, or sends a report (step, errno, detail) over the
 * error pipe and returns -1. The init program (ffi/init/) reports the same way.
 */
#ifndef IJR_JOB_CHILD_H
#define IJR_JOB_CHILD_H

#include <stddef.h>
#include <stdint.h>

#include "ijr_abi.h"

#define IJR_HIDDEN __attribute__((visibility("hidden")))

/* What the child works from; prepared by the parent before clone, copied onto the child's
 * stack as its first act, so the child may update its own copy (the step, the descriptors
 * after they move). */
struct ijr_child {
  const char *mount_point;  /* the job's root is mounted here (memory scratch: below it) */
  const char *lower_dir;    /* the rootfs */
  const char *scratch_dir;  /* disk scratch: holds upper/ and work/; NULL for memory */
  uint64_t scratch_bytes;   /* memory scratch: the tmpfs's size */
  const char *hostname;
  const char *workdir;
  char *const *argv;
  char *const *envp;
  const char *const *cgroup_tasks; /* v1: `tasks` files to join; NULL-terminated */
  uint64_t max_output_bytes;       /* the job's output limit (RLIMIT_FSIZE); 0: none */
  uint64_t timeout_ms;             /* for the init: stop the job after this long; 0: never */
  uint64_t grace_ms;               /* for the init: SIGTERM to kill when it stops the job */
  int userns_fd;                   /* the job's user namespace; -1: runs as the host's root */
  int net_ns_fd, ipc_ns_fd;        /* namespaces made ahead to enter; -1: the clone made them */
  int loopback_is_up;              /* the network namespace came with its loopback up */
  uint32_t host_uid, host_gid;     /* the host ids of the job's root (0, 0 without userns) */
  const void *seccomp_filter;      /* struct sock_filter[]; NULL: no filter */
  uint64_t seccomp_filter_len;
  int unshare_cgroup_namespace;    /* v1: the clone could not do it (no CLONE_INTO_CGROUP) */
  int parent_death_signal;         /* die with the spawning thread */
  int probe_mounts;                /* stop after the root is mounted (IJR_SPAWN_FLAG_PROBE_MOUNTS) */
  int init_program_fd;             /* the sealed memfd holding ijr-init */
  int error_fd;                    /* write end of the CLOEXEC error pipe */
  int output_fd;                   /* the job's output file */
  int end_fd;                      /* the job's end file, for the init's report */
  enum ijr_spawn_step step;        /* the step running, named in reports */
  /* The overlay's folders, filled in by the writable layer's step; `lower` is the rootfs's
   * idmapped mount when the job has a user namespace, the rootfs itself otherwise. */
  char lower[IJR_LAYER_PATH_MAX + 16];
  char upper[IJR_LAYER_PATH_MAX + 16];
  char work[IJR_LAYER_PATH_MAX + 16];
  char root[IJR_LAYER_PATH_MAX + 16];
};

/* Sends a report (step, err, detail "<a><b>") on fd and returns -1. Async-signal-safe. */
IJR_HIDDEN int ijr_report(int fd, enum ijr_spawn_step step, int err, const char *a,
                          const char *b);

/* ijr_report for the child's current step. */
IJR_HIDDEN int ijr_fail(const struct ijr_child *child, int err, const char *a, const char *b);

/* Small text building on the stack (no snprintf in the child): one formatter for numbers. */
struct ijr_text {
  char *buf;
  size_t len;
  size_t cap;
  int truncated; /* something did not fit */
};
IJR_HIDDEN void ijr_text_put(struct ijr_text *text, const char *s);
IJR_HIDDEN void ijr_text_put_u64(struct ijr_text *text, uint64_t value);

/* A step of the child's checklist (ffi/job_child.c runs them in order). */
typedef int (*ijr_step_fn)(struct ijr_child *child);

/* The steps, by concern. */
IJR_HIDDEN int ijr_enter_made_namespaces(struct ijr_child *child);   /* job_namespaces.c */
IJR_HIDDEN int ijr_join_cgroups(struct ijr_child *child);            /* job_cgroups.c */
IJR_HIDDEN int ijr_make_mounts_private(struct ijr_child *child);     /* job_mounts.c */
IJR_HIDDEN int ijr_mount_scratch(struct ijr_child *child);
IJR_HIDDEN int ijr_prepare_writable_layer(struct ijr_child *child);
IJR_HIDDEN int ijr_idmap_rootfs(struct ijr_child *child);            /* job_userns.c */
IJR_HIDDEN int ijr_inspect_rootfs(struct ijr_child *child);
IJR_HIDDEN int ijr_mount_root(struct ijr_child *child);
IJR_HIDDEN int ijr_mount_proc(struct ijr_child *child);
IJR_HIDDEN int ijr_mount_dev(struct ijr_child *child);
IJR_HIDDEN int ijr_mount_sys(struct ijr_child *child);
IJR_HIDDEN int ijr_mount_tmp(struct ijr_child *child);
IJR_HIDDEN int ijr_pivot_root(struct ijr_child *child);
IJR_HIDDEN int ijr_mask_paths(struct ijr_child *child);              /* job_mask.c */
IJR_HIDDEN int ijr_loopback_up(struct ijr_child *child);             /* job_net.c */
IJR_HIDDEN int ijr_open_network(struct ijr_child *child);
/* Brings the current network namespace's loopback up; returns 0 or an errno (job_net.c). */
IJR_HIDDEN int ijr_bring_loopback_up(void);
IJR_HIDDEN int ijr_arrange_descriptors(struct ijr_child *child);     /* job_fds.c */
IJR_HIDDEN int ijr_enter_user_namespace(struct ijr_child *child);    /* job_userns.c */
IJR_HIDDEN int ijr_install_seccomp(struct ijr_child *child);         /* job_seccomp.c */
IJR_HIDDEN int ijr_drop_capabilities(struct ijr_child *child);       /* job_caps.c */

/* A stack for a child that shares the daemon's memory, with a guard page below it
 * (child_stack.c): `base` is its lowest usable byte, `base + bytes` its top. */
struct ijr_child_stack {
  void *map;
  size_t map_bytes;
  char *base;
  size_t bytes;
};
IJR_HIDDEN int ijr_child_stack_map(struct ijr_child_stack *stack, size_t bytes); /* 0 or -errno */
IJR_HIDDEN void ijr_child_stack_unmap(struct ijr_child_stack *stack);

/* The child's entry point (job_child.c): runs the checklist and execs the init; never
 * returns. `child` is the parent's copy. */
IJR_HIDDEN int ijr_child_main(void *child) __attribute__((noreturn));

/* The static init program, embedded in libijr.so (ffi/init_blob.S). */
extern const unsigned char ijr_init_blob[] IJR_HIDDEN;
extern const unsigned char ijr_init_blob_end[] IJR_HIDDEN;

#endif
