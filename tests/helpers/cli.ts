/**
 * Runs ijrctl and ijrd from source as separate processes, the way an operator runs them.
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

/** Repository root. */
export const REPO: string = dirname(dirname(dirname(fromFileUrl(import.meta.url))));

/** The result of a finished command. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `deno run -A <entry> ...args` and collects its output. */
export async function runEntry(
  entry: "ctl.ts" | "daemon.ts",
  args: string[],
  options: { env?: Record<string, string>; stdin?: Uint8Array } = {},
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", join(REPO, entry), ...args],
    cwd: REPO,
    env: { NO_COLOR: "1", ...options.env },
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(options.stdin);
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}
