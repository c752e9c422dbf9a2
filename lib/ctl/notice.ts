/**
 * ijrctl's notices: lines for the person (or the scheduler's log) on stderr, kept apart from
 * a job's output on stdout, which must stay byte for byte the job's.
 * @module
 */

/** Writes `ijrctl: <line>` on stderr. */
export function notice(line: string): void {
  console.error(`ijrctl: ${line}`);
}
