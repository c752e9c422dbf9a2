/**
 * Keeping buffers that C reads on another thread referenced until that call has returned.
 * Deno 2.9 keeps a nonblocking call's buffer arguments alive by itself, but not what they
 * point into (a struct of pointers to strings); calling this after the await makes that hold
 * whatever the runtime does.
 * @module
 */

const alive = new WeakSet<object>();

/** Marks `buffers` used now, after the call that read them (undefined entries are skipped). */
export function keepAlive(...buffers: (object | undefined)[]): void {
  for (const buffer of buffers) if (buffer !== undefined) alive.add(buffer);
}
