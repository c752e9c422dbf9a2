/**
 * A full disk, in the terms a client should see: RESOURCE_EXHAUSTED naming the disk, never
 * INTERNAL. Shared by the job engine (the state disk) and the rootfs store (the rootfs disk).
 * @module
 */

import { IjrError } from "./mod.ts";

const ENOSPC = 28;
const EDQUOT = 122;

/** True when `error` says a disk is full or a quota used up (an errno, a code or its text). */
export function isNoSpace(error: unknown): boolean {
  const { errno, code, message } = (error ?? {}) as {
    errno?: unknown;
    code?: unknown;
    message?: unknown;
  };
  if (errno === ENOSPC || errno === EDQUOT) return true;
  if (code === "ENOSPC" || code === "EDQUOT") return true;
  return /\bENOSPC\b|\bEDQUOT\b|no space left on device|disk quota exceeded/i.test(
    String(message ?? ""),
  );
}

/**
 * The error a client sees when `what` failed on the disk named `disk` ("state", "rootfs") at
 * `path`: RESOURCE_EXHAUSTED when it is full; an IjrError unchanged; INTERNAL otherwise.
 */
export function diskError(error: unknown, disk: string, path: string, what: string): IjrError {
  if (isNoSpace(error)) {
    return new IjrError(
      "RESOURCE_EXHAUSTED",
      `the ${disk} disk (${path}) is full: ${what}: no space left on device`,
      { cause: error },
    );
  }
  if (error instanceof IjrError) return error;
  const reason = (error as Error)?.message ?? String(error);
  return new IjrError("INTERNAL", `${what}: ${reason}`, { cause: error });
}
