/**
 * Names and paths of job cgroups. A job's cgroup is `<parent>/<group>/<jobId>` in every
 * hierarchy (`<parent>/<jobId>` without a group), where `<parent>` is `<own>/ijr` by default
 * (`<own>` = the daemon's own cgroup in that hierarchy) and `<group>` its owner's
 * (group_name.ts). A relative `parent` is taken under `<own>`; an absolute one (starting with
 * "/") from the hierarchy's root, for operators who delegate a dedicated cgroup to IJR.
 * @module
 */

import { invalidArgument } from "../errors/mod.ts";
import { isGroupName } from "./group_name.ts";
import { isSpareName } from "./spares.ts";

/** The default job parent, relative to the daemon's own cgroup. */
export const DEFAULT_PARENT = "ijr";

/** What a job ID must look like to become a cgroup directory name. */
export const JOB_ID_PATTERN: RegExp = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Throws INVALID_ARGUMENT unless `jobId` is a safe, single directory name that is not shaped
 * like a group name (a job directly under the parent would be taken for a group).
 */
export function validateJobId(jobId: string): void {
  if (!JOB_ID_PATTERN.test(jobId)) {
    throw invalidArgument(
      `job ID "${jobId}" cannot name a cgroup: use 1-128 letters, digits, ".", "_" or "-", ` +
        `starting with a letter or digit`,
    );
  }
  if (isGroupName(jobId)) {
    throw invalidArgument(`job ID "${jobId}" cannot name a cgroup: it is shaped like a group name`);
  }
  if (isSpareName(jobId)) {
    throw invalidArgument(
      `job ID "${jobId}" cannot name a cgroup: it is shaped like a spare's name (spare-<12 hex>)`,
    );
  }
}

/** Joins cgroup paths ("/a" + "b/c" -> "/a/b/c"; "/" + "x" -> "/x"). */
export function joinCgroupPath(base: string, relative: string): string {
  return base === "/" ? `/${relative}` : `${base}/${relative}`;
}

/**
 * The cgroup path of the job parent in one hierarchy. Rejects "." and ".." components, a
 * parent that is the hierarchy root, and a parent equal to our own cgroup: the parent must be
 * a directory IJR owns alone, because removeStale removes every job-named cgroup in it and in
 * its groups.
 */
export function resolveParentPath(ownPath: string, parent: string = DEFAULT_PARENT): string {
  const components = parent.split("/").filter((component) => component !== "");
  if (components.length === 0) {
    throw invalidArgument(
      `cgroup parent "${parent}" must name a cgroup below the root, e.g. "ijr" or "/ijr.slice"`,
    );
  }
  for (const component of components) {
    if (component === "." || component === "..") {
      throw invalidArgument(`cgroup parent "${parent}" must not contain "." or ".."`);
    }
  }
  const relative = components.join("/");
  const path = parent.startsWith("/") ? `/${relative}` : joinCgroupPath(ownPath, relative);
  if (path === ownPath) {
    throw invalidArgument(
      `cgroup parent "${parent}" is the daemon's own cgroup; it must be a cgroup of its own`,
    );
  }
  return path;
}

/** The directory of cgroup `path` in a hierarchy mounted at `mountPoint`. */
export function cgroupDir(mountPoint: string, path: string): string {
  return path === "/" ? mountPoint : `${mountPoint}${path}`;
}

/** The cgroup paths from just below `from` down to `to` (both absolute; `to` below `from`). */
export function pathsBetween(from: string, to: string): string[] {
  const prefix = from === "/" ? "" : from;
  const rest = to.slice(prefix.length).split("/").filter((component) => component !== "");
  const paths: string[] = [];
  let current = from;
  for (const component of rest) {
    current = joinCgroupPath(current, component);
    paths.push(current);
  }
  return paths;
}

/** True when cgroup `path` is `ancestor` or below it. */
export function isWithin(path: string, ancestor: string): boolean {
  return ancestor === "/" || path === ancestor || path.startsWith(`${ancestor}/`);
}
