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

/**
 * The module graph of an entry point as `deno info` resolves it: every module's specifier,
 * local files as paths relative to the repository ("lib/ctl/help.ts"), others as they are
 * ("npm:…", "node:…").
 */
export async function moduleGraph(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout));
  const root = `file://${REPO}/`;
  return (graph.modules as { specifier: string }[]).map(({ specifier }) =>
    specifier.startsWith(root) ? specifier.slice(root.length) : specifier
  );
}
