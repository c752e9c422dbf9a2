/**
 * The version of a state folder's layout (STATE/state.json), so that ijrd never misreads a
 * folder another version wrote: an ijrd reads every version up to its own, and refuses a
 * newer one with a message that says so, rather than guess at records whose meaning changed.
 *
 * Versions: 1, folders without state.json (before live restore: a running job's init died
 * with its ijrd); 2, live restore (a running job's record names its init's protocol, and the
 * init records the command's end in the job's end file).
 * @module
 */

import { join } from "node:path";

/** The version this ijrd writes. */
export const STATE_VERSION = 2;

/** A folder this ijrd must not open. */
export class StateVersionError extends Error {}

/**
 * Reads the state folder's version (1 for a folder without state.json, the version before
 * there was one), refuses a newer one, and records this ijrd's version from now on. Returns
 * the version the folder had.
 */
export async function openStateVersion(stateDir: string): Promise<number> {
  const file = join(stateDir, "state.json");
  let found = 1;
  try {
    const stored = JSON.parse(await Deno.readTextFile(file));
    if (!Number.isSafeInteger(stored?.version) || stored.version < 1) {
      throw new StateVersionError(`${file} does not hold a state version`);
    }
    found = stored.version;
  } catch (error) {
    if (error instanceof StateVersionError) throw error;
    if (error instanceof SyntaxError) {
      throw new StateVersionError(`${file} is not JSON: ${error.message}`);
    }
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (found > STATE_VERSION) {
    throw new StateVersionError(
      `the state folder ${stateDir} was written by a newer ijrd (state version ${found}); ` +
        `this ijrd reads versions up to ${STATE_VERSION}: run the newer ijrd, or give this ` +
        "one another --state",
    );
  }
  if (found !== STATE_VERSION) {
    const temp = `${file}.tmp`;
    await Deno.writeTextFile(temp, JSON.stringify({ version: STATE_VERSION }) + "\n", {
      mode: 0o600,
    });
    await Deno.rename(temp, file);
  }
  return found;
}
