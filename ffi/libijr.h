/*
 * libijr: the few kernel operations IJR's TypeScript cannot do itself, called through Deno
 * FFI. Every exported function may be called from any thread at any time (its only shared
 * state, the init's memfd, is made under a lock; an extraction handle is used by one call at
 * a time, as extract.h says), and none forks and returns to the caller: Deno is
 * multi-threaded, so a forked copy of it must only exec or _exit.
 *
 * Every return value is checked. `(void)close(fd)` marks the close of a descriptor that only
 * read, or is released on an error path: close always releases it, and nothing can be lost.
 *
 * Errors are returned as negative errno values (-ENOENT) so the caller needs no errno
 * access; functions that need more context fill a struct the caller provides (declared in
 * lib/native/abi.ts, rendered into ijr_abi.h). Each concern has its own header; this one
 * includes them all.
 */
#ifndef LIBIJR_H
#define LIBIJR_H

#include <stddef.h>
#include <stdint.h>

#include "ijr_abi.h"

#define IJR_EXPORT __attribute__((visibility("default")))

/* IJR_ABI_HASH, the hash of the declaration this library was built from: the loader refuses
 * a library whose hash differs from its own. */
IJR_EXPORT uint64_t ijr_abi_hash(void);

/* Makes a user namespace whose ids 0..count-1 map to host_uid.. and host_gid.. (written by
 * this process, which must have CAP_SETUID and CAP_SETGID), in which no nested user namespace
 * may be made. Returns a descriptor of it (O_CLOEXEC), or -errno. */
IJR_EXPORT int32_t ijr_make_userns(uint32_t host_uid, uint32_t host_gid, uint32_t count);

/* Makes a network namespace, its loopback up, and an IPC namespace, for one job to enter
 * (ffi/job_namespaces.c): `out` gets their descriptors (O_CLOEXEC). Returns 0, or -errno with
 * nothing left open. */
IJR_EXPORT int32_t ijr_make_namespaces(struct ijr_made_namespaces *out);

/* Compiles the jobs' default seccomp filter (ffi/seccomp_profile.c) into `out` as struct
 * sock_filter instructions; returns their number, or -errno (-ENOSPC: `out` too small). */
IJR_EXPORT int32_t ijr_seccomp_default_filter(uint8_t *out, uint64_t capacity);

/* The policy that filter is compiled from, for one architecture (AUDIT_ARCH_X86_64 or
 * AUDIT_ARCH_I386): out[nr] is an enum ijr_seccomp_verdict for every call number the policy
 * knows (the rest get ENOSYS). Returns how many, or -errno (-ENOSPC: `out` too small). */
IJR_EXPORT int32_t ijr_seccomp_policy(uint32_t arch, uint8_t *out, uint64_t capacity);

#include "extract.h"
#include "job_spawn.h"
#include "process_watch.h"
#include "record_file.h"
#endif
