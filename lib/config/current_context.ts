/**
 * `ijrctl context use NAME`: the one change ijrctl makes to its config file. Only
 * "current-context" changes; every other key, known or not, is kept. The file is replaced
 * atomically (a temporary file beside it, then a rename) with its permissions, so a reader
 * never sees half a file and an interrupted write leaves the old one.
 * @module
 */

import { dirname, join } from "node:path";
import { parseConfigFile, selectContext } from "./client_config.ts";

/**
 * Makes `name` the current context of the config file at `path`. Returns false when nothing
 * had to change (it was current already, or the file names one worker, "default").
 * @throws naming the file when it cannot be read, is not a valid config file, or has no
 * context of that name.
 */
export function setCurrentContext(path: string, name: string): boolean {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new Error(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const file = parseConfigFile(parsed, path);
  selectContext(file, name); // throws when there is no such context
  if (file.single || file.current === name) return false;
  parsed["current-context"] = name;
  const mode = Deno.statSync(path).mode! & 0o7777;
  const temporary = join(dirname(path), `.${crypto.randomUUID()}.tmp`);
  try {
    Deno.writeTextFileSync(temporary, JSON.stringify(parsed, null, 2) + "\n", { mode });
    Deno.chmodSync(temporary, mode); // the umask may have taken bits away
    Deno.renameSync(temporary, path);
  } catch (error) {
    try {
      Deno.removeSync(temporary);
    } catch { /* never written */ }
    throw new Error(`cannot write config file ${path}: ${(error as Error).message}`);
  }
  return true;
}
