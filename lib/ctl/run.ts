/**
 * Runs ijrctl's command line through commander: parses it, runs the command, and maps the
 * outcome to the exit code.
 * @module
 */

import { CommanderError } from "commander";
import { buildCtlProgram } from "./program.ts";
import { loadAction } from "./actions.ts";

/** Runs ijrctl with the given arguments and returns its exit code: 0 ok, 1 failed request, 2 bad usage. */
export async function runCtl(args: string[]): Promise<number> {
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
