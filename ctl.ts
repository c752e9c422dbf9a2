/**
 * ijrctl: the IJR client. Parses the command line and runs the command; everything else
 * lives in lib/ctl (commands) and lib/rpc (the connection).
 * @module
 */

import { CommanderError } from "commander";
import { buildCtlProgram } from "./lib/ctl/program.ts";
import { loadAction } from "./lib/ctl/actions.ts";

/** Runs ijrctl with the given arguments and returns its exit code: 0 ok, 1 failed request, 2 bad usage. */
export async function main(args: string[]): Promise<number> {
  let exitCode = 0;
  const program = buildCtlProgram(loadAction, (code) => exitCode = code);
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (error) {
    // Help and --version "fail" with code 0; anything else commander throws is bad usage.
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  return exitCode;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
