/*
 * Internal to the spawner: the steps the cloned child runs, one file per kernel concern.
 * The child shares the daemon's memory (CLONE_VM|CLONE_VFORK) while the daemon's thread
 * waits, so every step is async-signal-safe and writes only to its own stack: no malloc, no
 * stdio, no locks, no globals. Each step returns 0 or reports through the error pipe and
 * returns -1. The init program (ffi/init/) uses the same report format and struct.
 */
#ifndef IJR_JOB_CHILD_H
#define IJR_JOB_CHILD_H

#include <stddef.h>
#include <stdint.h>

#define IJR_HIDDEN __attribute__((visibility("hidden")))

/* Longest path accepted for the rootfs, the scratch folder and the mount point: the overlay's
 * options (three paths and their keys) must fit in the page of data mount() takes. */
#define IJR_LAYER_PATH_MAX 1200

/* What the child works from; prepared by the parent before clone. */
struct ijr_child {
  const char *mount_point;  /* the job's root is mounted here (memory scratch: below it) */
  const char *lower_dir;    /* the rootfs */
  const char *scratch_dir;  /* disk scratch: holds upper/ and work/; NULL for memory */
  uint64_t scratch_bytes;   /* memory scratch: the tmpfs's size */
  const char *hostname;
  const char *workdir;
  char *const *argv;
  char *const *envp;
  const char *const *cgroup_procs;
  int error_fd;  /* write end of the CLOEXEC error pipe */
  int output_fd; /* the job's output file */
  int status_fd; /* write end of the pipe the init reports the command's final status on */
};

/* The message sent over the error pipe: errno and a line of text. */
struct ijr_report {
  int32_t err;
  char message[252];
};

/* Sends a report "<a><b><c>: <strerror-like>" and returns -1. Async-signal-safe. */
IJR_HIDDEN int ijr_report(int fd, int err, const char *a, const char *b, const char *c);

/* Steps, in the order the child runs them. */
IJR_HIDDEN int ijr_join_cgroups(const struct ijr_child *child);
IJR_HIDDEN int ijr_setup_mounts(const struct ijr_child *child);
IJR_HIDDEN int ijr_mask_proc(const struct ijr_child *child);
IJR_HIDDEN int ijr_loopback_up(const struct ijr_child *child);
IJR_HIDDEN int ijr_drop_capabilities(const struct ijr_child *child);

/* The static init program, embedded in libijr.so (ffi/init_blob.S). */
extern const unsigned char ijr_init_blob[] IJR_HIDDEN;
extern const unsigned char ijr_init_blob_end[] IJR_HIDDEN;

/* The job's init program (ffi/init/): forks the command, forwards signals, reaps, never
 * returns. Only `argv`, `envp`, `workdir` and the three fds of `child` are used. */
IJR_HIDDEN void ijr_run_init(const struct ijr_child *child) __attribute__((noreturn));

#endif
