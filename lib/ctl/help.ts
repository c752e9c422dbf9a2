/**
 * The help requests ijrctl answers without loading commander: `--help` or `-h` after a
 * command path, `help [command]` after a command that has sub-commands, and `--version`, each
 * exactly as commander would print them (see help_render.ts for why, and the test that keeps
 * the pages equal to commander's). Anything else, including help mixed with other options,
 * goes to commander.
 * @module
 */

import { VERSION } from "../version.ts";
import { HELP_PAGES } from "./help_pages.ts";

/** The text to print for `ijrctl ARGS` when it is a plain help or version request. */
export function helpRequest(args: readonly string[]): string | undefined {
  if (args.length === 1 && args[0] === "--version") return `${VERSION}\n`;
  // Pages are keyed by words joined with spaces: an argument that is not one plain word
  // ("job start" in quotes) is not a command name, whatever its join would match.
  if (!args.every((arg) => /^[a-z-]+$/.test(arg))) return undefined;
  const last = args.at(-1);
  if (last === "--help" || last === "-h") return page(args.slice(0, -1).join(" "));
  const at = args.indexOf("help");
  if (at < 0) return undefined;
  const parent = args.slice(0, at).join(" ");
  if (!hasSubCommands(parent)) return undefined;
  const rest = args.slice(at + 1);
  if (rest.length > 1) return undefined;
  return page([...args.slice(0, at), ...rest].join(" "));
}

/** The page of a command path; never an inherited member of the object ("constructor"). */
function page(path: string): string | undefined {
  return Object.hasOwn(HELP_PAGES, path) ? HELP_PAGES[path] : undefined;
}

function hasSubCommands(path: string): boolean {
  const prefix = path === "" ? "" : `${path} `;
  return page(path) !== undefined &&
    Object.keys(HELP_PAGES).some((other) => other !== path && other.startsWith(prefix));
}
