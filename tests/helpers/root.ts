/**
 * Tests that need root (namespaces, mounts, cgroups) run for real as root. Elsewhere they are
 * ignored with a visible reason, except under CI=true, where CI runs as root and a skip
 * would hide a failure: there they run and fail.
 * @module
 */

/** True when this process is root. */
export const IS_ROOT: boolean = Deno.uid() === 0;

/** True under CI, where nothing may be skipped. */
export const IN_CI: boolean = Deno.env.get("CI") === "true";

let warned = false;

/** Registers a test that needs root. */
export function rootTest(name: string, fn: (t: Deno.TestContext) => Promise<void> | void): void {
  const ignore = !IS_ROOT && !IN_CI;
  if (ignore && !warned) {
    warned = true;
    console.error(
      "SKIP: tests that need root are ignored: not running as root (CI=true runs them)",
    );
  }
  Deno.test({ name, ignore, sanitizeResources: false, sanitizeOps: false, fn });
}
