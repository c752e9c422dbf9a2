/**
 * A command as people read it: argv words joined with spaces, each shell-quoted only when a
 * shell would need it. Shared by ijrd (the short form jobs are listed with) and ijrctl.
 * @module
 */

/** Quotes an argv word only when a shell would need it, so commands read naturally. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command line of `argv`. */
export function commandLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

/** The command line of `argv` cut to at most `max` characters, ending in "…" when cut. */
export function shortCommandLine(argv: readonly string[], max: number): string {
  let line = "";
  for (const word of argv) {
    line += (line ? " " : "") + shellQuote(word);
    if (line.length > max) return line.slice(0, max - 1) + "…";
  }
  return line;
}
