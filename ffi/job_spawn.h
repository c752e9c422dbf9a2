/*
 * Spawning a job: one call clones a child into new PID, mount, network, UTS, IPC and cgroup
 * namespaces, which sets up the job's root file system and becomes the job's init (PID 1),
 * which forks and execs the command. It returns once the command has been exec'd, or with
 * the precise reason why it could not be (over a CLOEXEC pipe from the child).
 *
 * The spec is an array of 64-bit slots so TypeScript can fill it without layout guesswork:
 * pointers to NUL-terminated strings, or to "count" NUL-separated strings, and integers.
 */
#ifndef IJR_JOB_SPAWN_H
#define IJR_JOB_SPAWN_H

#include <stdint.h>

#define IJR_EXPORT __attribute__((visibility("default")))

struct ijr_spawn_spec {
  uint64_t mount_point;   /* where the job's root is mounted, inside its own mount namespace
                           * (an existing empty folder; all jobs may share it) */
  uint64_t lower_dir;     /* the rootfs tree: the overlay's read-only lower layer */
  uint64_t scratch_dir;   /* disk scratch: a folder with empty upper/ and work/; 0 for memory */
  uint64_t scratch_bytes; /* memory scratch: size of the job's tmpfs for them; 0 for disk */
  uint64_t hostname;      /* the job ID */
  uint64_t output_path;   /* file that receives stdout and stderr (opened O_APPEND) */
  int64_t status_fd_out;  /* out: read end (non-blocking) of the pipe the init writes the
                           * command's final status into; the caller reads and closes it */
  uint64_t workdir;       /* working directory inside the job's root */
  uint64_t argv;          /* argc NUL-separated strings */
  uint64_t argc;
  uint64_t envp;          /* envc NUL-separated strings */
  uint64_t envc;
  uint64_t cgroup_procs;  /* cgroup_procs_count NUL-separated cgroup.procs paths (v1) */
  uint64_t cgroup_procs_count;
  int64_t cgroup_dir_fd;  /* v2: directory fd for CLONE_INTO_CGROUP, or -1 */
  uint64_t error_buf;     /* out: a message when the spawn fails */
  uint64_t error_buf_len;
};

/* Spawns the job. Returns the init's PID (> 0) in the caller's PID namespace, or -errno with
 * a message in error_buf. Must be called from a thread that lives as long as the job: the
 * init's parent-death signal fires when the calling thread exits. */
IJR_EXPORT int32_t ijr_spawn(struct ijr_spawn_spec *spec);

/* Longest argv or environment the spawner accepts (entries). */
#define IJR_SPAWN_MAX_STRINGS 4096

#endif
