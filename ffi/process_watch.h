/*
 * Job inits ijrd did not start in this run: those that kept running while ijrd was down and
 * were adopted by the next ijrd (live restore). ijrd is not their parent, so it cannot wait
 * for them or trust their pid: a pidfd names one process for as long as it is open, so a
 * pid reused after the init's end is never signalled or taken for it, and poll() on it says
 * when that process has ended.
 */
#ifndef IJR_PROCESS_WATCH_H
#define IJR_PROCESS_WATCH_H

#include <stdint.h>

#define IJR_EXPORT __attribute__((visibility("default")))

/* A pidfd of `pid` (close-on-exec), or -errno (-ESRCH: no such process). */
IJR_EXPORT int32_t ijr_pidfd_open(int32_t pid);

/* Sends `signal` to the pidfd's process: 0, or -errno (-ESRCH: it has ended). */
IJR_EXPORT int32_t ijr_pidfd_signal(int32_t pidfd, int32_t signal);

/* Reaps the pidfd's process if it is this process's child and has ended: 1 with
 * out[0] = IJR_END_EXIT or IJR_END_SIGNAL and out[1] = the status or signal; 0 while it
 * runs; -ECHILD when it is not this process's child (its parent reaps it). */
IJR_EXPORT int32_t ijr_pidfd_reap(int32_t pidfd, int32_t *out);

/* An eventfd that wakes ijr_wait_exits (close-on-exec, non-blocking), or -errno. */
IJR_EXPORT int32_t ijr_exit_wake_make(void);

/* Wakes a waiting ijr_wait_exits: 0, or -errno. */
IJR_EXPORT int32_t ijr_exit_wake(int32_t wake_fd);

/* Blocks until one of the `count` pidfds' processes has ended or `wake_fd` is signalled;
 * sets ended[i] to 1 for each that has ended, clears the wake-up, and returns how many ended
 * (0: woken only), or -errno. Called on a thread of its own: it may block for days. */
IJR_EXPORT int32_t ijr_wait_exits(const int32_t *pidfds, uint32_t count, int32_t wake_fd,
                                  uint8_t *ended);

#endif
