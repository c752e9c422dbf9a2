/*
 * Spawning a job: one call clones a child into new PID, mount, network, UTS, IPC and cgroup
 * namespaces, which sets up the job's root file system and becomes the job's init (PID 1),
 * which starts the command. It returns once the command has been exec'd, or with the step,
 * errno and path that stopped it. The spec and the error are declared in lib/native/abi.ts
 * (rendered into ijr_abi.h).
 */
#ifndef IJR_JOB_SPAWN_H
#define IJR_JOB_SPAWN_H

#include <stdint.h>

#include "ijr_abi.h"

#define IJR_EXPORT __attribute__((visibility("default")))

/* Spawns the job. Returns the init's PID (> 0) in the caller's PID namespace, or -errno with
 * spec->error filled. The init records the command's end in spec->end_path. Thread-safe.
 * With IJR_SPAWN_FLAG_PARENT_DEATH_SIGNAL the init dies with the calling thread, which must
 * then live as long as the job; without it the job outlives ijrd (live restore). */
IJR_EXPORT int32_t ijr_spawn(struct ijr_spawn_spec *spec);

#endif
