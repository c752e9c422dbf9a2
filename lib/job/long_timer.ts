/**
 * Timers longer than setTimeout can hold. setTimeout keeps its delay in a signed 32-bit
 * integer: past 2^31-1 ms (about 24.8 days) it fires at once, and a job with a 30-day timeout
 * would be stopped as soon as it started.
 * @module
 */

/** The longest delay setTimeout honours: 2^31-1 ms. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * Calls `callback` once, after `delayMs` milliseconds, however long that is, and returns a
 * timer that clearTimeout cancels at any point, exactly like setTimeout's. A delay that
 * setTimeout can hold is a plain setTimeout. A longer one is split into equal periods that
 * fit, run by one setInterval whose last tick calls back: the timer stays the same while it
 * re-arms, and clearTimeout clears intervals too (as in Node and the HTML spec), so a caller
 * that clears a setTimeout needs no change. It fires at most a few
 * milliseconds late (the periods are rounded up), never early.
 */
export function setLongTimeout(
  callback: () => void,
  delayMs: number,
): ReturnType<typeof setTimeout> {
  if (!(delayMs > MAX_TIMER_DELAY_MS)) return setTimeout(callback, delayMs);
  const periods = Math.ceil(delayMs / MAX_TIMER_DELAY_MS);
  const periodMs = Math.ceil(delayMs / periods);
  let left = periods;
  const id: ReturnType<typeof setTimeout> = setInterval(() => {
    if (--left > 0) return;
    clearInterval(id);
    callback();
  }, periodMs);
  return id;
}
