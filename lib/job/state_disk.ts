/**
 * Failures of the state disk, in the terms a client should see (lib/errors/disk.ts): a full
 * disk is RESOURCE_EXHAUSTED naming it, never INTERNAL.
 * @module
 */

import { diskError, type IjrError } from "../errors/mod.ts";

/** The error a client sees when `what` failed on the state disk at `stateDir`. */
export function stateDiskError(error: unknown, what: string, stateDir: string): IjrError {
  return diskError(error, "state", stateDir, what);
}
