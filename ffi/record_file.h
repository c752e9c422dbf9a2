/*
 * Small files replaced atomically in one call: write a temp file, then rename it over the
 * target, so a reader or a crash sees the old content or the new, never half of either.
 */
#ifndef IJR_RECORD_FILE_H
#define IJR_RECORD_FILE_H

#include <stdint.h>

#define IJR_EXPORT __attribute__((visibility("default")))

/* Writes `len` bytes of `data` over `temp` (created with `mode` if missing, O_NOFOLLOW),
 * truncates it to `len` only after the write, and renames it onto `path`. Written over, not
 * truncated first: a temp file reserved earlier (below) keeps its blocks, so the write needs
 * no free space. Then, when `reserve_path` is not NULL, fills that
 * file with `reserve_len` spaces: the room a later record needs, taken now (a job's end is
 * recorded even when the disk has filled up since its start). No fsync: the file is as
 * durable as any write the page cache holds. Returns 0 or -errno. Meant to run on Deno's
 * blocking pool: one call instead of many round trips through it, each of which would need
 * the JavaScript thread between steps. */
IJR_EXPORT int32_t ijr_write_file_atomic(const char *temp, const char *path, const uint8_t *data,
                                         uint64_t len, uint32_t mode, const char *reserve_path,
                                         uint64_t reserve_len);

#endif
