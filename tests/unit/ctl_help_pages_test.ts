/**
 * ijrctl answers plain help requests from pages rendered at build time (lib/ctl/help.ts).
 * They must be exactly what commander prints now, and every request the fast path takes must
 * print what commander would.
 */
import assert from "node:assert/strict";
import { commanderOutput, commandPaths } from "../../lib/ctl/help_render.ts";
import { helpRequest } from "../../lib/ctl/help.ts";
import { HELP_PAGES } from "../../lib/ctl/help_pages.ts";
import { moduleGraph } from "../helpers/cli.ts";

const split = (path: string) => path === "" ? [] : path.split(" ");

Deno.test("help pages: one per command, each equal to commander's --help (else: make help-pages)", async () => {
  const paths = commandPaths();
  assert.deepEqual(Object.keys(HELP_PAGES).sort(), [...paths].sort());
  for (const path of paths) {
    const live = await commanderOutput([...split(path), "--help"]);
    assert.equal(live.code, 0);
    assert.equal(HELP_PAGES[path], live.stdout, `ijrctl ${path} --help is stale`);
  }
});

Deno.test("help pages: the fast path answers plain help requests exactly as commander does", async () => {
  const paths = commandPaths();
  const parents = paths.filter((p) =>
    paths.some((q) => q.startsWith(p === "" ? "" : `${p} `) && q !== p)
  );
  const fast: string[][] = [["--version"]];
  for (const path of paths) fast.push([...split(path), "--help"], [...split(path), "-h"]);
  for (const parent of parents) {
    fast.push([...split(parent), "help"]);
    for (const child of paths.filter((p) => p.startsWith(parent === "" ? "" : `${parent} `))) {
      const rest = split(child).slice(split(parent).length);
      if (rest.length === 1) fast.push([...split(parent), "help", ...rest]);
    }
  }
  assert.equal(fast.length, 1 + 2 * paths.length + parents.length + paths.length - 1);
  for (const args of fast) {
    const text = helpRequest(args);
    assert.notEqual(
      text,
      undefined,
      `ijrctl ${args.join(" ")} should be answered without commander`,
    );
    const live = await commanderOutput(args);
    assert.equal(live.code, 0, args.join(" "));
    assert.equal(text, live.stdout, `ijrctl ${args.join(" ")}`);
  }
});

Deno.test("help pages: anything but a plain help request goes to commander", () => {
  for (
    const args of [
      [],
      ["job"],
      ["job", "bogus"],
      ["help", "bogus"],
      ["bogus", "--help"],
      ["help", "job", "start"],
      ["job", "start", "help"],
      ["job", "start", "--rootfs", "x", "--help"],
      ["job", "list", "--json"],
      ["--version", "--help"],
      ["job", "--version"],
      // Names of Object's own members are no command names.
      ["constructor", "--help"],
      ["help", "toString"],
      ["job", "hasOwnProperty", "-h"],
      // Arguments are words: "job start" in quotes is not the job start command.
      ["job start", "--help"],
      ["help", "job start"],
      ["help", "certs init"],
      ["", "--help"],
    ]
  ) {
    assert.equal(helpRequest(args), undefined, `ijrctl ${args.join(" ")}`);
  }
});

Deno.test("help pages: the help path loads no npm package and no node: module", async () => {
  // deno.json: where lib/version.ts reads the version.
  assert.deepEqual((await moduleGraph("lib/ctl/help.ts")).sort(), [
    "deno.json",
    "lib/ctl/help.ts",
    "lib/ctl/help_pages.ts",
    "lib/version.ts",
  ]);
});
