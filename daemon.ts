/**
 * ijrd: the IJR daemon. Parses the flags and runs the daemon from lib/daemon.
 * @module
 */

import { CommanderError } from "commander";
import { buildDaemonProgram, type DaemonFlags } from "./lib/daemon/program.ts";

async function run(flags: DaemonFlags): Promise<number> {
  // Loaded only now, so `ijrd help` and usage errors stay fast.
  const { runDaemon } = await import("./lib/daemon/start.ts");
  return await runDaemon(flags);
}

/** Runs ijrd with the given arguments and returns its exit code (2 for bad usage). */
export async function main(args: string[]): Promise<number> {
  // The proposal shows `ijrd help`.
  const effective = args.length === 1 && args[0] === "help" ? ["--help"] : args;
  const program = buildDaemonProgram(run);
  try {
    await program.parseAsync(effective, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  return Number(program.getOptionValue("exitCode") ?? 0);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
