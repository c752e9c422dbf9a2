/**
 * Bounded waits for tests: for what the kernel or a daemon finishes on its own time. Every
 * wait has a deadline, and says whether what it waited for happened.
 * @module
 */

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 20 ms until it holds or `timeoutMs` passed; returns whether it held. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
}

/** `promise`'s value, or "pending" when it has not settled within `ms`. */
export function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | "pending"> {
  let timer: ReturnType<typeof setTimeout>;
  const pending = new Promise<"pending">((resolve) => timer = setTimeout(resolve, ms, "pending"));
  return Promise.race([promise, pending]).finally(() => clearTimeout(timer));
}
