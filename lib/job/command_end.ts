/**
 * How a job's command ended, decided from two sources: the init's report in the job's end
 * file and the init's own end (it exits with the command's status, 128+n for signal n), when
 * ijrd reaped the init itself.
 * @module
 */

import type { CommandStatus, WaitResult } from "../native/mod.ts";

const SIGKILL = 9;

/**
 * How the command ended: what its init reported in the end file, checked against how the
 * init itself ended (it exits with the command's status, 128+n for signal n). Without a
 * report (the init was killed: a stop past its grace period, the OOM killer), the init's own
 * end stands in. A report that disagrees with the init's exit is not trusted. When ijrd did
 * not reap the init (`init` undefined: adopted after a restart, or ended while ijrd was
 * down) the report stands alone: it was checked like any other, and only the init, which
 * the job cannot reach, could have written it.
 */
export function commandEnd(
  reported: CommandStatus | undefined,
  init: WaitResult | undefined,
): CommandStatus | Record<never, never> {
  if (reported === undefined) {
    if (init?.exitCode !== undefined) return { exitCode: init.exitCode };
    return init?.signal === undefined ? {} : { signal: init.signal };
  }
  if ("invalid" in reported || init === undefined) return reported;
  // Killed between its report and its exit (a stop's SIGKILL): the report was made first.
  if (init.signal === SIGKILL) return reported;
  const expected = "exitCode" in reported ? reported.exitCode : 128 + reported.signal;
  if (init.exitCode === expected) return reported;
  const initEnd = init.signal === undefined
    ? `exited with ${init.exitCode}`
    : `was killed by signal ${init.signal}`;
  const said = "exitCode" in reported ? `exit ${reported.exitCode}` : `signal ${reported.signal}`;
  return { invalid: `it said ${said}, but the init ${initEnd}` };
}
