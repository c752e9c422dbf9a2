/*
 * Confined extraction of a root file system: every path of an uploaded tarball is created
 * under a new root directory through openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so
 * "..", absolute paths, symlinks and hardlinks in the archive cannot reach outside it.
 *
 * TypeScript parses the tar stream and sends the entries in batches (one FFI call per batch,
 * not per entry, and off the JavaScript thread): a batch is a sequence of records, each a
 * 48-byte little-endian header followed by path, link and data bytes:
 *
 *   u32 op, u32 path_len, u32 link_len, u32 mode, u32 uid, u32 gid, u32 mtime_nsec,
 *   u32 reserved, i64 mtime_sec, u64 data_len, then path[path_len], link[link_len],
 *   data[data_len]
 *
 * Paths are relative to the root, already normalised by the caller: components separated by
 * one '/', no "." components, no trailing '/', last component not "..". An empty path is the
 * root itself (directories only).
 */
#ifndef IJR_EXTRACT_H
#define IJR_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

/* Record operations. */
#define IJR_EXTRACT_DIR 1      /* create (or keep) a directory; owner and mode now, mtime later */
#define IJR_EXTRACT_FILE 2     /* create a regular file (O_EXCL); it stays open for DATA */
#define IJR_EXTRACT_DATA 3     /* append data to the open file */
#define IJR_EXTRACT_FILE_END 4 /* owner, mode (after chown: chown clears setuid), mtime, close */
#define IJR_EXTRACT_SYMLINK 5  /* symlink with the target (link) verbatim; owner, mtime */
#define IJR_EXTRACT_HARDLINK 6 /* hard link to link, an existing path inside the root */
#define IJR_EXTRACT_DIR_TIME 7 /* set a directory's mtime, once its children exist */

/* Longest path or link target a record may carry, in bytes. */
#define IJR_EXTRACT_PATH_MAX 4096

/* Size of a record header. */
#define IJR_EXTRACT_RECORD_HEADER 48

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
