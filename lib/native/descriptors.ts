/**
 * Descriptors ijrd inherited. Whatever started ijrd (a shell, a service manager, a careless
 * wrapper) may have left descriptors open without close-on-exec; a descriptor of the host's
 * "/" handed to a job would be a way out of its root. Every job's child closes all but the
 * few its init needs (ffi/job_fds.c); ijrd also marks every inherited descriptor above 2
 * close-on-exec when it starts, so no program it ever runs gets one either.
 * @module
 */

import { describeErrno } from "./errno.ts";
import { lastErrno, openLibc } from "./libc.ts";

const CLOSE_RANGE_CLOEXEC = 4;
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const EINVAL = 22;
const ENOSYS = 38;

/** Marks every open descriptor above 2 close-on-exec. */
export function markInheritedDescriptorsCloseOnExec(): void {
  const libc = openLibc();
  if (libc.close_range(3, 0xffffffff, CLOSE_RANGE_CLOEXEC) === 0) return;
  const errno = lastErrno();
  // CLOSE_RANGE_CLOEXEC came in Linux 5.11: before it, one descriptor at a time.
  if (errno !== EINVAL && errno !== ENOSYS) {
    throw new Error(`cannot mark inherited descriptors close-on-exec: ${describeErrno(errno)}`);
  }
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(entry.name);
    if (fd <= 2) continue;
    const flags = libc.fcntl(fd, F_GETFD, 0);
    if (flags < 0) continue; // the directory's own descriptor, closed by now
    if (libc.fcntl(fd, F_SETFD, flags | FD_CLOEXEC) !== 0) {
      throw new Error(`cannot mark descriptor ${fd} close-on-exec: ${describeErrno(lastErrno())}`);
    }
  }
}
