/**
 * ijrctl: the IJR client. Plain help requests are answered from pre-rendered pages
 * (lib/ctl/help.ts); everything else is parsed by commander (lib/ctl/run.ts), loaded only
 * then, and each command's code only when it runs.
 * @module
 */

import { helpRequest } from "./lib/ctl/help.ts";

/**
 * Not a string literal on purpose: Deno resolves every literal dynamic import when the program
 * starts, which here means commander, gRPC, TLS and certificates, about 4 ms before any help
 * is printed. `make build` hands this module to deno compile with --include.
 */
const COMMANDER_PATH = new URL("./lib/ctl/run.ts", import.meta.url).href;

/** Runs ijrctl with the given arguments and returns its exit code: 0 ok, 1 failed request, 2 bad usage. */
export async function main(args: string[]): Promise<number> {
  const help = helpRequest(args);
  if (help !== undefined) {
    const bytes = new TextEncoder().encode(help);
    for (let written = 0; written < bytes.length;) {
      written += Deno.stdout.writeSync(bytes.subarray(written));
    }
    return 0;
  }
  const { runCtl } = await import(COMMANDER_PATH) as typeof import("./lib/ctl/run.ts");
  return await runCtl(args);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
