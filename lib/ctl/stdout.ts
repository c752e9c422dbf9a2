/**
 * Writing ijrctl's text to stdout whole. No npm or node: imports: the help path uses it.
 * @module
 */

/** Writes all of `text` to stdout, however many writes the pipe or terminal takes. */
export function writeStdout(text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let written = 0; written < bytes.length;) {
    written += Deno.stdout.writeSync(bytes.subarray(written));
  }
}
