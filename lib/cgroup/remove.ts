/**
 * Removing a job's cgroup directories. rmdir(2) on a cgroup fails with EBUSY while tasks are
 * in it, and for a short while after the last task died (the kernel releases a dying task's
 * cgroup references asynchronously), so removal retries with backoff for a bounded time.
 * Child cgroups (a job may create some) are removed first, leaf first, when there are any.
 * @module
 */

import { IjrError } from "../errors/mod.ts";
import type { CgroupFs } from "./fs.ts";
import { cgroupDir, isWithin, pathsBetween } from "./paths.ts";
import { nextDelay, sleep } from "./wait.ts";

/** Options of {@link removeCgroupTree}. */
export interface RemoveOptions {
  /** Give up (INTERNAL error) when a directory is still busy after this long. Default 5 s. */
  readonly timeoutMs?: number;
}

const DEFAULT_REMOVE_TIMEOUT_MS = 5_000;

function isBusy(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return error instanceof Deno.errors.Busy || code === "EBUSY" || code === "ENOTEMPTY";
}

function cannotRemove(dir: string, error: unknown): IjrError {
  return new IjrError("INTERNAL", `cannot remove cgroup ${dir}: ${(error as Error).message}`, {
    cause: error,
  });
}

async function rmdirRetrying(fs: CgroupFs, dir: string, deadline: number): Promise<void> {
  let delay = 0;
  for (;;) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      if (!isBusy(error) || Date.now() >= deadline) throw cannotRemove(dir, error);
    }
    delay = nextDelay(delay);
    await sleep(delay);
  }
}

async function removeTree(fs: CgroupFs, dir: string, deadline: number): Promise<void> {
  // A job's cgroup nearly always has no child cgroups and, by the time it is removed, no
  // tasks: one rmdir does it. Listing first read dozens of control files per hierarchy, six
  // listings per job, a visible share of ijrd's thread at 4 starts at once (bench/README.md).
  // Busy means children or tasks still there: then children go first, and rmdir is retried.
  try {
    await fs.rmdir(dir);
    return;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    if (!isBusy(error)) throw cannotRemove(dir, error);
  }
  let children: string[];
  try {
    children = await fs.listDirs(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  for (const child of children) await removeTree(fs, `${dir}/${child}`, deadline);
  await rmdirRetrying(fs, dir, deadline);
}

/**
 * Removes the one cgroup `dir`, which must have no child cgroups (rmdir of a cgroup with
 * children fails as busy, and would be retried until the deadline); a missing `dir` is fine.
 */
export async function removeCgroupDir(
  fs: CgroupFs,
  dir: string,
  options: RemoveOptions = {},
): Promise<void> {
  await rmdirRetrying(fs, dir, Date.now() + (options.timeoutMs ?? DEFAULT_REMOVE_TIMEOUT_MS));
}

/** Removes `dir` and the cgroups below it, leaf first; a missing `dir` is fine. */
export async function removeCgroupTree(
  fs: CgroupFs,
  dir: string,
  options: RemoveOptions = {},
): Promise<void> {
  await removeTree(fs, dir, Date.now() + (options.timeoutMs ?? DEFAULT_REMOVE_TIMEOUT_MS));
}

/** Where {@link removeEmptyBelow} works: a hierarchy, our own cgroup and the job parent. */
export interface ParentPlace {
  readonly mountPoint: string;
  readonly ownPath: string;
  readonly parentPath: string;
}

/** rmdir of `parentPath` and its ancestors up to (not including) `ownPath`, while empty. */
export async function removeEmptyBelow(
  fs: CgroupFs,
  { mountPoint, ownPath, parentPath }: ParentPlace,
): Promise<void> {
  if (!isWithin(parentPath, ownPath)) return;
  for (const path of pathsBetween(ownPath, parentPath).reverse()) {
    const dir = cgroupDir(mountPoint, path);
    try {
      if ((await fs.listDirs(dir)).length > 0) return;
      await fs.rmdir(dir);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      if (isBusy(error)) return;
      throw error;
    }
  }
}
