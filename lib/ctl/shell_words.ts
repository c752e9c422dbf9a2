/**
 * Splits `--command "CMD ARGS"` into argv the way a POSIX shell splits words: blanks
 * separate words, single quotes keep everything literal, double quotes keep blanks and allow
 * \" \\ \$ \` escapes, a backslash outside quotes escapes the next character. Nothing is
 * expanded and no shell runs: `$HOME`, `*` and `;` stay as they are.
 * @module
 */

/** Splits a command line into words; throws on an unterminated quote or trailing backslash. */
export function splitShellWords(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === " " || c === "\t" || c === "\n") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error("unterminated single quote in command");
      word += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      while (true) {
        if (i >= line.length) throw new Error("unterminated double quote in command");
        const d = line[i];
        if (d === '"') break;
        if (d === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) {
          word += line[i + 1];
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
      inWord = true;
      i++;
    } else if (c === "\\") {
      if (i + 1 >= line.length) throw new Error("trailing backslash in command");
      word += line[i + 1];
      inWord = true;
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
