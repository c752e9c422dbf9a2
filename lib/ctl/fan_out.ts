/**
 * `--all-contexts`: one command against every worker of the config file at once, e.g. to put a
 * root file system on every node a scheduler may pick. Each worker gets its own connection and
 * its own outcome, so one worker that is down or refuses does not hold back or hide the rest.
 * @module
 */

import {
  type ConfigOverrides,
  readConfigFile,
  resolveContext,
  selectContext,
} from "../config/mod.ts";
import { type Connection, connectTo, describeFailure } from "./connect.ts";

/** One worker's outcome: the body's value, or the one line that says why it failed. */
export type ContextOutcome<T> =
  | { readonly context: string; readonly ok: true; readonly value: T }
  | { readonly context: string; readonly ok: false; readonly error: string };

/**
 * Runs `body` against every context of the config file in parallel and yields the outcomes
 * in the file's order, each as soon as it and those before it are known. `--ca`, `--cert` and
 * `--key` apply to every context; a config file that cannot be read throws before anything
 * runs.
 */
export async function* forEveryContext<T>(
  overrides: ConfigOverrides,
  body: (connection: Connection) => Promise<T>,
): AsyncGenerator<ContextOutcome<T>> {
  const file = readConfigFile(overrides);
  const runs = file.contexts.map(async (entry): Promise<ContextOutcome<T>> => {
    const context = entry.name;
    let connection: Connection;
    try {
      connection = connectTo(resolveContext(file, selectContext(file, context), overrides));
    } catch (error) {
      return { context, ok: false, error: describeFailure(error) };
    }
    try {
      return { context, ok: true, value: await body(connection) };
    } catch (error) {
      return { context, ok: false, error: describeFailure(error, connection.server) };
    } finally {
      connection.close();
    }
  });
  for (const run of runs) yield await run;
}

/**
 * Prints one line per worker, `NAME: LINE` on stdout for a success and
 * `ijrctl COMMAND: NAME: ERROR` on stderr for a failure, and returns the exit code: 1 when
 * any worker failed.
 */
export async function printEveryContext(
  command: string,
  outcomes: AsyncIterable<ContextOutcome<string>>,
): Promise<number> {
  let failed = false;
  for await (const outcome of outcomes) {
    if (outcome.ok) {
      console.log(`${outcome.context}: ${outcome.value}`);
    } else {
      failed = true;
      console.error(`ijrctl ${command}: ${outcome.context}: ${outcome.error}`);
    }
  }
  return failed ? 1 : 0;
}
