/**
 * Shared by the cgroup integration tests: a controller under a parent of the test's own
 * (so parallel runs and a running daemon are never touched), a process spawned straight
 * into a job's cgroups the way the engine's child does it (write "0" into each `tasks` file,
 * then exec), the cgroup_hog fixture, and the check that no cgroup is left behind.
 * @module
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type CgroupController,
  createCgroupController,
  type CreateControllerOptions,
  type JobCgroup,
} from "../../lib/cgroup/mod.ts";

const REPO = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const HOG_SOURCE = join(REPO, "tests", "fixtures", "cgroup_hog.c");
/** The static fixture that allocates, spins or fork-bombs on request. */
export const HOG_PATH: string = join(REPO, "build", "cgroup_hog");

let building: Promise<string> | undefined;

/** Builds build/cgroup_hog from tests/fixtures/cgroup_hog.c when missing or stale. */
export function cgroupHog(): Promise<string> {
  building ??= (async () => {
    const source = (await Deno.stat(HOG_SOURCE)).mtime!.getTime();
    const built = await Deno.stat(HOG_PATH).then((info) => info.mtime!.getTime(), () => 0);
    if (built >= source) return HOG_PATH;
    await Deno.mkdir(dirname(HOG_PATH), { recursive: true });
    const out = await new Deno.Command("gcc", {
      args: [
        "-std=gnu11",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-static",
        "-o",
        HOG_PATH,
        HOG_SOURCE,
      ],
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`gcc cgroup_hog.c: ${new TextDecoder().decode(out.stderr)}`);
    return HOG_PATH;
  })();
  return building;
}

/** Single-quotes a word for sh. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Spawns `argv` inside a v1 job's cgroups: sh writes "0" into every joinTaskFiles entry
 * (moving itself), then execs, so nothing of the program runs outside the cgroups.
 */
export function spawnInto(
  job: JobCgroup,
  argv: readonly string[],
  options: { stdout?: "piped" | "null"; stderr?: "piped" | "null" } = {},
): Deno.ChildProcess {
  const joins = job.joinTaskFiles.map((file) => `echo 0 > ${shellQuote(file)}`).join(" && ");
  return new Deno.Command("sh", {
    args: ["-c", `${joins} && exec "$@"`, "sh", ...argv],
    stdin: "null",
    stdout: options.stdout ?? "null",
    stderr: options.stderr ?? "null",
  }).spawn();
}

/** Options of a test controller beyond its parent. */
export type TestControllerOptions = Pick<CreateControllerOptions, "groupLingerMs">;

/** A controller whose job parent is `<own>/ijr-test-<pid>-<n>`: the test's own subtree. */
export async function testController(
  options: TestControllerOptions = {},
): Promise<CgroupController> {
  const parent = `ijr-test-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  return await createCgroupController({ ...options, parent });
}

/** Every job parent directory of a controller (one per hierarchy on v1). */
export function parentDirsOf(controller: CgroupController): string[] {
  return [...controller.parentDirs];
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/**
 * Runs `fn` with a fresh test controller; afterwards kills and removes whatever job cgroups
 * are left, removes the test parents and asserts no cgroup directory remains.
 */
export async function withTestController(
  fn: (controller: CgroupController) => Promise<void>,
  options: TestControllerOptions = {},
): Promise<void> {
  const controller = await testController(options);
  let passed = false;
  try {
    await fn(controller);
    passed = true;
  } finally {
    const leftover = await controller.removeStale(new Set());
    await controller.removeEmptyParents();
    const problems: string[] = [];
    for (const dir of parentDirsOf(controller)) {
      if (await exists(dir)) problems.push(`cgroup ${dir} is left behind`);
    }
    if (leftover.length > 0) problems.push(`job cgroups left for the cleanup: ${leftover}`);
    // After a failure the failure is the news; leftovers are only reported beside it.
    if (problems.length > 0 && passed) assert.fail(problems.join("; "));
    if (problems.length > 0) console.error(problems.join("; "));
  }
}

/** Reads a file of a job's cgroup directory. */
export function readCgroupFile(dir: string | undefined, file: string): Promise<string> {
  assert.ok(dir, `no cgroup directory for ${file}`);
  return Deno.readTextFile(`${dir}/${file}`);
}

/** Waits for a spawned process and returns its status (it must end within `ms`). */
export async function statusWithin(
  child: Deno.ChildProcess,
  ms: number,
): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`process ${child.pid} still running after ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([child.status, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The whole disk mounted at "/", from mountinfo ("/dev/vda" here). */
export async function rootDisk(): Promise<string> {
  const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    const separator = fields.indexOf("-");
    if (fields[4] === "/" && fields[separator + 2]?.startsWith("/dev/")) {
      return fields[separator + 2];
    }
  }
  throw new Error("no block device is mounted at /");
}
