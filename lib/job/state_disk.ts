/**
 * Failures of the state disk, in the terms a client should see: a full disk (or an exhausted
 * quota) is RESOURCE_EXHAUSTED naming the disk, never INTERNAL; anything else is INTERNAL.
 * @module
 */

import { IjrError } from "../errors/mod.ts";

const ENOSPC = 28;
const EDQUOT = 122;

function errnoOf(error: unknown): number | undefined {
  const withErrno = error as { errno?: unknown; code?: unknown };
  if (typeof withErrno?.errno === "number") return withErrno.errno;
  if (withErrno?.code === "ENOSPC") return ENOSPC;
  if (withErrno?.code === "EDQUOT") return EDQUOT;
  return undefined;
}

/** True when `error` says the disk is full or the quota used up. */
export function isNoSpace(error: unknown): boolean {
  const errno = errnoOf(error);
  return errno === ENOSPC || errno === EDQUOT ||
    /\bENOSPC\b|no space left on device/i.test(String((error as Error)?.message));
}

/** The error a client sees when `what` failed on the state disk at `stateDir`. */
export function stateDiskError(error: unknown, what: string, stateDir: string): IjrError {
  if (error instanceof IjrError) return error;
  const reason = (error as Error)?.message ?? String(error);
  if (isNoSpace(error)) {
    return new IjrError(
      "RESOURCE_EXHAUSTED",
      `the state disk (${stateDir}) is full: ${what}: no space left on device`,
      { cause: error },
    );
  }
  return new IjrError("INTERNAL", `${what}: ${reason}`, { cause: error });
}
