/**
 * ijrctl: the IJR client. Plain help requests are answered from pre-rendered pages
 * (lib/ctl/help.ts); everything else is parsed by commander (lib/ctl/run.ts), loaded only
 * then, and each command's code only when it runs.
 * @module
 */

import { helpRequest } from "./lib/ctl/help.ts";
import { writeStdout } from "./lib/ctl/stdout.ts";

/**
 * Not a string literal on purpose: Deno resolves every literal dynamic import when the program
 * starts, which here means commander, gRPC, TLS and certificates, about 4 ms before any help
 * is printed. `make build` hands this module to deno compile with --include.
 */
const COMMANDER_PATH = new URL("./lib/ctl/run.ts", import.meta.url).href;

/**
 * The first TLS handshake of a Deno process spends about 50 ms seeding aws-lc's random number
 * generator from CPU timing jitter, synchronously on the main thread. Any aws-lc random use
 * triggers that seeding once per process; an ECDH key generation does it on a background
 * thread, so started here, before gRPC and TLS load, it is done by the time ijrctl connects.
 * Measured: `ijrctl job list` 262 -> 228 ms on a 2-CPU machine; neutral on one CPU.
 */
function warmUpTlsRandomness(): void {
  crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"])
    .catch(() => {}); // only a warm-up: the handshake reports real failures
}

/** Runs ijrctl with the given arguments and returns its exit code: 0 ok, 1 failed request, 2 bad usage. */
export async function main(args: string[]): Promise<number> {
  const help = helpRequest(args);
  if (help !== undefined) {
    writeStdout(help);
    return 0;
  }
  if (args[0] === "job" || args[0] === "rootfs") warmUpTlsRandomness();
  const { runCtl } = await import(COMMANDER_PATH) as typeof import("./lib/ctl/run.ts");
  return await runCtl(args);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
