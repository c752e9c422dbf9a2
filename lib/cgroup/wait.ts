/**
 * Bounded polling for the few things the kernel finishes asynchronously (tasks dying after
 * SIGKILL, a cgroup freezing, a removed cgroup's last references going away). Every wait
 * has a deadline; nothing here can spin forever.
 * @module
 */

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Exponential backoff delays: 5 ms doubling up to `maxMs`. */
export function nextDelay(previousMs: number, maxMs = 100): number {
  // Start small: a cgroup is usually released within a millisecond of its last task.
  return Math.min(previousMs === 0 ? 1 : previousMs * 2, maxMs);
}

/** Polls `done` with backoff until it returns true or `timeoutMs` passes; returns the result. */
export async function pollUntil(done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 0;
  for (;;) {
    if (await done()) return true;
    if (Date.now() >= deadline) return false;
    delay = nextDelay(delay);
    await sleep(delay);
  }
}
