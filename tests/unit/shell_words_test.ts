import assert from "node:assert/strict";
import { splitShellWords } from "../../lib/ctl/shell_words.ts";

Deno.test("shell words: plain words split on any run of blanks", () => {
  assert.deepEqual(splitShellWords("sleep 25"), ["sleep", "25"]);
  assert.deepEqual(splitShellWords("  ls \t -la\n/  "), ["ls", "-la", "/"]);
  assert.deepEqual(splitShellWords(""), []);
});

Deno.test("shell words: quotes group, and are removed", () => {
  assert.deepEqual(splitShellWords(`sh -c "echo hello; exit 3"`), [
    "sh",
    "-c",
    "echo hello; exit 3",
  ]);
  assert.deepEqual(splitShellWords(`echo 'a  b' "c'd" 'e"f'`), ["echo", "a  b", "c'd", `e"f`]);
  assert.deepEqual(splitShellWords(`a"b c"d`), ["ab cd"]);
  assert.deepEqual(splitShellWords(`echo "" ''`), ["echo", "", ""]);
});

Deno.test("shell words: backslash escapes outside quotes and in double quotes only", () => {
  assert.deepEqual(splitShellWords(`echo a\\ b`), ["echo", "a b"]);
  assert.deepEqual(splitShellWords(`echo "a\\"b" 'c\\d'`), ["echo", `a"b`, "c\\d"]);
  assert.deepEqual(splitShellWords(`echo "a\\b"`), ["echo", "a\\b"]);
});

Deno.test("shell words: no expansion of variables, globs or operators", () => {
  assert.deepEqual(splitShellWords("echo $HOME * ; |"), ["echo", "$HOME", "*", ";", "|"]);
});

Deno.test("shell words: unterminated quotes and trailing backslash are errors", () => {
  assert.throws(() => splitShellWords(`echo "abc`), /unterminated double quote/);
  assert.throws(() => splitShellWords(`echo 'abc`), /unterminated single quote/);
  assert.throws(() => splitShellWords(`echo abc\\`), /trailing backslash/);
});
