/*
 * Confined extraction of a root file system: every path of an uploaded tarball is created
 * under a new root directory through openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so
 * "..", absolute paths, symlinks and hardlinks in the archive cannot reach outside it.
 *
 * TypeScript parses the tar stream and sends the entries in batches (one FFI call per batch,
 * not per entry, and off the JavaScript thread): a batch is a sequence of records, each a
 * struct ijr_extract_record header (little-endian) followed by path[path_len],
 * link[link_len] and data[data_len].
 *
 * Paths are relative to the root, already normalised by the caller: components separated by
 * one '/', no "." components, no trailing '/', last component not "..". An empty path is the
 * root itself (directories only).
 */
#ifndef IJR_EXTRACT_H
#define IJR_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "ijr_abi.h"

/* Record operations are enum ijr_extract_op, the header struct ijr_extract_record and the
 * longest path IJR_EXTRACT_PATH_MAX, all in ijr_abi.h (declared in lib/native/abi.ts). */

/* Opens the (existing, empty) directory root_path as the root of an extraction. Returns a
 * handle, or NULL with a message in err. */
IJR_EXPORT void *ijr_extract_begin(const char *root_path, char *err, size_t err_len);

/* Applies a batch of records. Returns 0, or a negative errno with a message naming the entry
 * in err. Batches of one handle must not run concurrently. */
IJR_EXPORT int32_t ijr_extract_batch(void *handle, const uint8_t *batch, size_t len, char *err,
                                     size_t err_len);

/* Closes the handle (and a file left open by a failed batch). Returns 0 or a negative errno
 * from closing an open file. */
IJR_EXPORT int32_t ijr_extract_end(void *handle);

/* renameat2(AT_FDCWD, from, AT_FDCWD, to, flags): RENAME_EXCHANGE swaps a new tree with the
 * one it replaces in one step, RENAME_NOREPLACE never overwrites. 0 or a negative errno. */
IJR_EXPORT int32_t ijr_rename(const char *from, const char *to, uint32_t flags);

/* syncfs() on the file system holding path: makes an extracted tree durable before it is
 * published. 0 or a negative errno. */
IJR_EXPORT int32_t ijr_syncfs(const char *path);

#endif
