/**
 * errno values as words: the one place TypeScript turns an errno from libijr or libc into
 * text (C reports numbers and leaves the words to this table). Linux x86_64 numbers.
 * @module
 */

/** Symbolic names and descriptions of the errno values IJR meets. */
const ERRNO: Record<number, readonly [name: string, text: string]> = {
  1: ["EPERM", "operation not permitted"],
  2: ["ENOENT", "no such file or directory"],
  3: ["ESRCH", "no such process"],
  4: ["EINTR", "interrupted system call"],
  5: ["EIO", "input/output error"],
  7: ["E2BIG", "argument list too long"],
  8: ["ENOEXEC", "exec format error"],
  9: ["EBADF", "bad file descriptor"],
  10: ["ECHILD", "no child processes"],
  11: ["EAGAIN", "resource temporarily unavailable"],
  12: ["ENOMEM", "out of memory"],
  13: ["EACCES", "permission denied"],
  14: ["EFAULT", "bad address"],
  16: ["EBUSY", "device or resource busy"],
  17: ["EEXIST", "file exists"],
  18: ["EXDEV", "invalid cross-device link"],
  19: ["ENODEV", "no such device"],
  20: ["ENOTDIR", "not a directory"],
  21: ["EISDIR", "is a directory"],
  22: ["EINVAL", "invalid argument"],
  23: ["ENFILE", "too many open files in system"],
  24: ["EMFILE", "too many open files"],
  26: ["ETXTBSY", "text file busy"],
  27: ["EFBIG", "file too large"],
  28: ["ENOSPC", "no space left on device"],
  30: ["EROFS", "read-only file system"],
  31: ["EMLINK", "too many links"],
  32: ["EPIPE", "broken pipe"],
  36: ["ENAMETOOLONG", "file name too long"],
  38: ["ENOSYS", "function not implemented"],
  39: ["ENOTEMPTY", "directory not empty"],
  40: ["ELOOP", "too many levels of symbolic links"],
  71: ["EPROTO", "protocol error"],
  75: ["EOVERFLOW", "value too large for defined data type"],
  95: ["EOPNOTSUPP", "operation not supported"],
  122: ["EDQUOT", "disk quota exceeded"],
};

/** The symbolic name of an errno, such as "ENOENT", or "errno N" for one not in the table. */
export function errnoName(errno: number): string {
  return ERRNO[errno]?.[0] ?? `errno ${errno}`;
}

/** The description of an errno, such as "no such file or directory", or "errno N". */
export function errnoText(errno: number): string {
  return ERRNO[errno]?.[1] ?? `errno ${errno}`;
}

/** "no such file or directory (ENOENT)": description and name, for logs and messages. */
export function describeErrno(errno: number): string {
  const entry = ERRNO[errno];
  return entry ? `${entry[1]} (${entry[0]})` : `errno ${errno}`;
}

/** errno values that mean the worker ran out of something: a full disk, memory, processes. */
export const RESOURCE_ERRNOS: ReadonlySet<number> = new Set([11, 12, 23, 24, 28, 122]);
