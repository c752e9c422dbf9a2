/**
 * Every folder of lib/ has one public surface, its mod.ts: code in one folder reaches another
 * folder only through that folder's mod.ts, so a reader can trust a mod.ts as the whole
 * story of what its folder offers. The exceptions are named: lib/gen (generated protobuf
 * code, imported per file as protoc-gen-es lays it out) and the single-file modules at the
 * top of lib/ (lib/version.ts).
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { REPO } from "../helpers/cli.ts";

/** Every .ts file under `dir`, relative to the repository. */
function tsFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(join(REPO, dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...tsFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

/** The relative specifiers a file imports or re-exports (static and dynamic). */
function relativeImports(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
    found.push(match[1]);
  }
  return found;
}

/** Why an import of `target` from `file` goes around a folder's surface, or undefined. */
export function boundaryProblem(file: string, specifier: string): string | undefined {
  const from = dirname(file);
  const target = normalize(join(from, specifier));
  const targetDir = dirname(target);
  if (targetDir === from || target.endsWith("/mod.ts")) return undefined;
  if (target.startsWith("lib/gen/") || targetDir === "lib" || !target.startsWith("lib/")) {
    return undefined;
  }
  return `${file} imports ${specifier}: use ${relative(from, join(targetDir, "mod.ts"))}`;
}

Deno.test("module boundaries: the rule itself", () => {
  assert.equal(boundaryProblem("lib/job/a.ts", "./b.ts"), undefined);
  assert.equal(boundaryProblem("lib/job/a.ts", "../cgroup/mod.ts"), undefined);
  assert.equal(boundaryProblem("lib/job/a.ts", "../gen/ijr/v1/job_pb.ts"), undefined);
  assert.equal(boundaryProblem("lib/ctl/a.ts", "../version.ts"), undefined);
  assert.equal(
    boundaryProblem("lib/job/a.ts", "../native/spawn.ts"),
    "lib/job/a.ts imports ../native/spawn.ts: use ../native/mod.ts",
  );
  assert.equal(
    boundaryProblem("lib/rpc/services/a.ts", "../transport/adapter.ts"),
    "lib/rpc/services/a.ts imports ../transport/adapter.ts: use ../transport/mod.ts",
  );
  // A parent folder's files are another folder's too.
  assert.equal(
    boundaryProblem("lib/rpc/services/a.ts", "../../job/types.ts"),
    "lib/rpc/services/a.ts imports ../../job/types.ts: use ../../job/mod.ts",
  );
});

Deno.test("module boundaries: lib/ imports other folders only through their mod.ts", () => {
  const problems: string[] = [];
  for (const file of tsFiles("lib").filter((path) => !path.startsWith("lib/gen/"))) {
    const source = Deno.readTextFileSync(join(REPO, file));
    for (const specifier of relativeImports(source)) {
      const problem = boundaryProblem(file, specifier);
      if (problem) problems.push(problem);
    }
  }
  assert.deepEqual(problems, []);
});
