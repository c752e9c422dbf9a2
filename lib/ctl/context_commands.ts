/**
 * `ijrctl context list|use`: the workers (contexts) of the config file, and which one
 * commands use when --context is not given. Neither talks to ijrd.
 * @module
 */

import { type ConfigOverrides, readConfigFile, setCurrentContext } from "../config/mod.ts";
import { table } from "./format.ts";
import type { Action } from "./program.ts";
import { writeStdout } from "./stdout.ts";

function failed(command: string, error: unknown): number {
  console.error(`ijrctl context ${command}: ${(error as Error).message}`);
  return 1;
}

/** `ijrctl context list [--json]` */
export const contextList: Action = (options) => {
  try {
    const file = readConfigFile(options as ConfigOverrides);
    // The one a command would use: the current one, or the only one.
    const current = file.current ??
      (file.contexts.length === 1 ? file.contexts[0].name : undefined);
    if (options.json) {
      const contexts = file.contexts.map((context) => ({
        ...context,
        current: context.name === current,
      }));
      console.log(JSON.stringify(contexts, null, 2));
    } else {
      writeStdout(table(
        ["CURRENT", "NAME", "SERVER"],
        file.contexts.map((context) => [
          context.name === current ? "*" : "",
          context.name,
          context.server ?? "-",
        ]),
      ));
    }
    return Promise.resolve(0);
  } catch (error) {
    return Promise.resolve(failed("list", error));
  }
};

/** `ijrctl context use NAME` */
export const contextUse: Action = (options, args) => {
  const name = args[0];
  try {
    const { path } = readConfigFile(options as ConfigOverrides);
    const changed = setCurrentContext(path, name);
    console.log(
      changed ? `switched to context "${name}"` : `context "${name}" is the current one already`,
    );
    return Promise.resolve(0);
  } catch (error) {
    return Promise.resolve(failed("use", error));
  }
};
