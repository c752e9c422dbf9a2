/*
 * libijr: the few kernel operations IJR's TypeScript cannot do itself, called through Deno
 * FFI. Every function is thread-safe and never forks and returns to the caller: Deno is
 * multi-threaded, so a forked copy of it must only exec or _exit.
 *
 * Errors are returned as negative errno values (-ENOENT) so the caller needs no errno
 * access; functions that need more context write a message into a caller-provided buffer.
 * Each concern has its own header; this one includes them all.
 */
#ifndef LIBIJR_H
#define LIBIJR_H

#include <stddef.h>
#include <stdint.h>

#define IJR_EXPORT __attribute__((visibility("default")))

/* Bumped whenever a signature changes, so a stale libijr.so is refused at load time. */
#define IJR_ABI_VERSION 2

/* The ABI version this library was built with. */
IJR_EXPORT int32_t ijr_abi_version(void);

/* FNV-1a 64 of a buffer: a pure function the loader test uses to prove that arguments
 * (pointer + length) and results cross the FFI boundary intact. */
IJR_EXPORT uint64_t ijr_fnv1a64(const uint8_t *data, size_t len);

#include "extract.h"
#include "job_spawn.h"
#include "record_file.h"
#endif
