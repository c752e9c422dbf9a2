/**
 * Killing every task of a job cgroup, without a window in which a forking job escapes:
 *
 * - v2 with `cgroup.kill` (kernel >= 5.14): one write, the kernel kills the whole subtree,
 *   including tasks forked while it runs.
 * - v2 without it, and v1: freeze the cgroup so nothing can fork, SIGKILL every listed
 *   process, thaw so the kills are delivered (frozen tasks do not die), and repeat until the
 *   cgroup is empty. v1 uses the freezer hierarchy (`freezer.state`), v2 `cgroup.freeze`.
 *   Without a freezer on v1 the same loop runs unfrozen; it still converges because each
 *   round kills more than a fork bomb can add within its pids limit.
 * @module
 */

import { IjrError } from "../errors/mod.ts";
import { type CgroupFs, parsePids, readOptional, writeCgroupFile } from "./fs.ts";
import { nextDelay, pollUntil, sleep } from "./wait.ts";

/** Options of the kill functions. */
export interface KillOptions {
  /** Give up (INTERNAL error) when tasks are still alive after this long. Default 10 s. */
  readonly timeoutMs?: number;
}

const DEFAULT_KILL_TIMEOUT_MS = 10_000;
/** How long one freeze may take before the round goes on unfrozen. */
const FREEZE_WAIT_MS = 1_000;

/** The pids in `dir` and every cgroup below it (a job may create child cgroups). */
export async function listProcsRecursive(fs: CgroupFs, dir: string): Promise<number[]> {
  const text = await readOptional(fs, `${dir}/cgroup.procs`);
  if (text === undefined) return [];
  const pids = parsePids(text);
  let children: string[] = [];
  try {
    children = await fs.listDirs(dir);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const child of children) pids.push(...await listProcsRecursive(fs, `${dir}/${child}`));
  return pids;
}

async function listAll(fs: CgroupFs, dirs: readonly string[]): Promise<number[]> {
  const all = new Set<number>();
  for (const dir of dirs) for (const pid of await listProcsRecursive(fs, dir)) all.add(pid);
  return [...all];
}

/** SIGKILL to one process; a process that is already gone (ESRCH) is fine. */
function killProcess(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** How a freeze-kill-thaw loop freezes and thaws (or not, without a freezer). */
interface Freezer {
  freeze(): Promise<void>;
  thaw(): Promise<void>;
}

/** What {@link freezeKillLoop} works on. */
interface KillLoopTarget {
  /** The cgroups that must end up empty. */
  readonly dirs: readonly string[];
  /** How to freeze them; undefined without a freezer. */
  readonly freezer: Freezer | undefined;
  readonly timeoutMs: number;
}

async function freezeKillLoop(
  fs: CgroupFs,
  { dirs, freezer, timeoutMs }: KillLoopTarget,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 0;
  for (;;) {
    if ((await listAll(fs, dirs)).length === 0) return;
    if (Date.now() >= deadline) {
      const left = await listAll(fs, dirs);
      throw new IjrError(
        "INTERNAL",
        `processes ${left.join(", ")} still alive in ${dirs[0]} after ${timeoutMs} ms of killing`,
      );
    }
    await freezer?.freeze();
    try {
      // Listed after the freeze: the set cannot grow while frozen.
      for (const pid of await listAll(fs, dirs)) killProcess(pid);
    } finally {
      await freezer?.thaw();
    }
    delay = nextDelay(delay);
    await sleep(delay);
  }
}

/** The cgroup v1 directories of one job, for killing. */
export interface V1KillTarget {
  /** The job's directory in the freezer hierarchy, when that is mounted. */
  readonly freezerDir?: string;
  /** The job's directories in every hierarchy; the kill ends when all are empty. */
  readonly dirs: readonly string[];
}

/** Kills every task of a v1 job: freeze, SIGKILL each, thaw, until every hierarchy is empty. */
export async function killAllV1(
  fs: CgroupFs,
  target: V1KillTarget,
  options: KillOptions = {},
): Promise<void> {
  const existing: string[] = [];
  for (const dir of target.dirs) if (await fs.exists(dir)) existing.push(dir);
  const dir = target.freezerDir;
  const freezer: Freezer | undefined = dir === undefined || !(await fs.exists(dir)) ? undefined : {
    async freeze() {
      await writeCgroupFile(fs, `${dir}/freezer.state`, "FROZEN");
      // It reads FREEZING while tasks are still on their way into the refrigerator.
      await pollUntil(
        async () => (await fs.readFile(`${dir}/freezer.state`)).trim() === "FROZEN",
        FREEZE_WAIT_MS,
      );
    },
    thaw: () => writeCgroupFile(fs, `${dir}/freezer.state`, "THAWED"),
  };
  await freezeKillLoop(fs, {
    dirs: existing,
    freezer,
    timeoutMs: options.timeoutMs ?? DEFAULT_KILL_TIMEOUT_MS,
  });
}

/** Kills every task of a v2 job cgroup: `cgroup.kill`, else freeze, SIGKILL each, thaw. */
export async function killAllV2(
  fs: CgroupFs,
  dir: string,
  options: KillOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_KILL_TIMEOUT_MS;
  if (!(await fs.exists(dir))) return;
  if (await fs.exists(`${dir}/cgroup.kill`)) {
    await writeCgroupFile(fs, `${dir}/cgroup.kill`, "1");
    const empty = await pollUntil(
      async () => (await listProcsRecursive(fs, dir)).length === 0,
      timeoutMs,
    );
    if (empty) return;
    throw new IjrError(
      "INTERNAL",
      `processes ${(await listProcsRecursive(fs, dir)).join(", ")} still alive in ${dir} ` +
        `after cgroup.kill and ${timeoutMs} ms`,
    );
  }
  const freezer: Freezer | undefined = (await fs.exists(`${dir}/cgroup.freeze`))
    ? {
      async freeze() {
        await writeCgroupFile(fs, `${dir}/cgroup.freeze`, "1");
        await pollUntil(
          async () => /^frozen 1$/m.test(await fs.readFile(`${dir}/cgroup.events`)),
          FREEZE_WAIT_MS,
        );
      },
      thaw: () => writeCgroupFile(fs, `${dir}/cgroup.freeze`, "0"),
    }
    : undefined;
  await freezeKillLoop(fs, { dirs: [dir], freezer, timeoutMs });
}
