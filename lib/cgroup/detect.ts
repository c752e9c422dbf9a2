/**
 * Which cgroup version this host runs, and where the daemon's own cgroups are. Read once at
 * start-up from `/proc/self/mountinfo` (what is mounted where, with which controllers) and
 * `/proc/self/cgroup` (our path in each hierarchy).
 *
 * The rule: when any v1 hierarchy carries a controller IJR limits with (cpu, memory, pids),
 * the host is v1, even when a cgroup2 file system is mounted too. That is the "hybrid"
 * layout of systemd hosts: the v1 controllers do the work, and `/sys/fs/cgroup/unified` is a
 * cgroup2 without controllers that only tracks processes. Only when no v1 controller is
 * mounted and a cgroup2 is, the host is v2.
 * @module
 */

import { failedPrecondition } from "../errors/mod.ts";

/** The v1 controllers IJR uses: limits (cpu, memory, blkio, pids), accounting, freezing. */
export const V1_CONTROLLERS = ["cpu", "cpuacct", "memory", "blkio", "pids", "freezer"] as const;
/** A v1 controller IJR uses. */
export type V1Controller = typeof V1_CONTROLLERS[number];

/** One line of /proc/self/mountinfo, the fields IJR needs. */
export interface MountInfo {
  /** `major:minor` of the file system; equal for every mount of one cgroup v1 hierarchy. */
  readonly device: string;
  /** The directory of the file system that is mounted (not "/" for a bind or a namespace). */
  readonly root: string;
  readonly mountPoint: string;
  readonly fsType: string;
  /** Super block options; for cgroup v1 they name the controllers ("rw,cpu,cpuacct"). */
  readonly superOptions: readonly string[];
}

/** One line of /proc/self/cgroup. */
export interface ProcCgroupEntry {
  /** Hierarchy ID; 0 for the unified (v2) hierarchy. */
  readonly id: number;
  /** Controllers of the hierarchy ("cpu", "cpuacct"), empty for v2 and named hierarchies. */
  readonly controllers: readonly string[];
  /** Our cgroup path, relative to the hierarchy's root. */
  readonly path: string;
}

/** One mounted v1 hierarchy with the controllers IJR uses on it. */
export interface V1Hierarchy {
  /** The controllers of this hierarchy that IJR uses (one or more, e.g. cpu and cpuacct). */
  readonly controllers: readonly V1Controller[];
  /** Directory of the hierarchy's root cgroup as we see it (mount point). */
  readonly mountPoint: string;
  /** Our own cgroup, relative to `mountPoint`, starting with "/" ("/" when it is the root). */
  readonly ownPath: string;
}

/** Where the job cgroups of a cgroup v1 host go. */
export interface V1Layout {
  readonly version: 1;
  /** Mounted hierarchies with controllers IJR uses; each appears once. */
  readonly hierarchies: readonly V1Hierarchy[];
}

/** Where the job cgroups of a cgroup v2 host go. */
export interface V2Layout {
  readonly version: 2;
  /** Directory of the unified hierarchy's root as we see it (mount point). */
  readonly mountPoint: string;
  /** Our own cgroup, relative to `mountPoint`, starting with "/". */
  readonly ownPath: string;
}

/** The detected layout. */
export type CgroupLayout = V1Layout | V2Layout;

/** Decodes the octal escapes mountinfo uses for space, tab, newline and backslash. */
function unescapeMountField(field: string): string {
  return field.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/** Parses /proc/self/mountinfo text. */
export function parseMountinfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const fields = line.split(" ");
    const separator = fields.indexOf("-", 6);
    if (separator < 0 || fields.length < separator + 4) {
      throw new Error(`malformed mountinfo line: ${line}`);
    }
    mounts.push({
      device: fields[2],
      root: unescapeMountField(fields[3]),
      mountPoint: unescapeMountField(fields[4]),
      fsType: fields[separator + 1],
      superOptions: fields[separator + 3].split(","),
    });
  }
  return mounts;
}

/** Parses /proc/self/cgroup text. */
export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const entries: ProcCgroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) throw new Error(`malformed /proc/self/cgroup line: ${line}`);
    const controllers = line.slice(first + 1, second);
    entries.push({
      id: Number(line.slice(0, first)),
      controllers: controllers === "" ? [] : controllers.split(","),
      path: line.slice(second + 1),
    });
  }
  return entries;
}

/**
 * Our cgroup path relative to a mount of its hierarchy, or undefined when that mount does not
 * show our cgroup (a bind mount of another subtree). Mount roots other than "/" appear in
 * containers and cgroup namespaces.
 */
function pathUnderMount(path: string, root: string): string | undefined {
  if (root === "/") return path;
  if (path === root) return "/";
  if (path.startsWith(`${root}/`)) return path.slice(root.length);
  return undefined;
}

/**
 * Our own cgroup with IJR's daemon leaf taken off: on v2 the daemon moves itself into
 * `<own>/ijr-daemon`, and a daemon started again from there must find the same job parent.
 */
function withoutDaemonLeaf(path: string, leaf: string): string {
  const suffix = `/${leaf}`;
  if (!path.endsWith(suffix)) return path;
  const parent = path.slice(0, -suffix.length);
  return parent === "" ? "/" : parent;
}

/** Name of the leaf cgroup the daemon moves itself into on v2. */
export const DAEMON_LEAF = "ijr-daemon";

/** Input of {@link detectCgroupLayout}: the text of the two proc files. */
export interface DetectInput {
  readonly mountinfo: string;
  readonly procCgroup: string;
}

/** Decides v1 or v2 and finds our cgroups, from the text of mountinfo and /proc/self/cgroup. */
export function detectCgroupLayout(input: DetectInput): CgroupLayout {
  const mounts = parseMountinfo(input.mountinfo);
  const entries = parseProcCgroup(input.procCgroup);
  const v1Mounts = mounts.filter((mount) => mount.fsType === "cgroup");
  const usesV1 = v1Mounts.some((mount) =>
    mount.superOptions.some((option) => ["cpu", "memory", "pids"].includes(option))
  );
  if (usesV1) return detectV1(v1Mounts, entries);
  const v2Mount = mounts.find((mount) => mount.fsType === "cgroup2");
  if (!v2Mount) {
    throw failedPrecondition("no cgroup file system is mounted: IJR needs cgroup v1 or v2");
  }
  const entry = entries.find((candidate) => candidate.id === 0);
  if (!entry) throw failedPrecondition("/proc/self/cgroup has no cgroup v2 entry (0::)");
  for (const mount of mounts.filter((candidate) => candidate.fsType === "cgroup2")) {
    const ownPath = pathUnderMount(entry.path, mount.root);
    if (ownPath !== undefined) {
      return {
        version: 2,
        mountPoint: mount.mountPoint,
        ownPath: withoutDaemonLeaf(ownPath, DAEMON_LEAF),
      };
    }
  }
  throw failedPrecondition(
    `our cgroup v2 ${entry.path} is not visible under any cgroup2 mount (${v2Mount.mountPoint})`,
  );
}

function detectV1(mounts: readonly MountInfo[], entries: readonly ProcCgroupEntry[]): V1Layout {
  const hierarchies: V1Hierarchy[] = [];
  const seen = new Set<string>();
  for (const controller of V1_CONTROLLERS) {
    if (hierarchies.some((hierarchy) => hierarchy.controllers.includes(controller))) continue;
    const entry = entries.find((candidate) => candidate.controllers.includes(controller));
    const candidates = mounts.filter((mount) => mount.superOptions.includes(controller));
    if (!entry || candidates.length === 0) continue;
    for (const mount of candidates) {
      const ownPath = pathUnderMount(entry.path, mount.root);
      if (ownPath === undefined || seen.has(mount.device)) continue;
      seen.add(mount.device);
      hierarchies.push({
        controllers: V1_CONTROLLERS.filter((name) => mount.superOptions.includes(name)),
        mountPoint: mount.mountPoint,
        ownPath,
      });
      break;
    }
  }
  for (const required of ["cpu", "memory", "pids"] as const) {
    if (!hierarchies.some((hierarchy) => hierarchy.controllers.includes(required))) {
      throw failedPrecondition(
        `cgroup v1 controller ${required} is not mounted where our own cgroup is visible`,
      );
    }
  }
  return { version: 1, hierarchies };
}

/** Detects the layout of this host from /proc/self. */
export async function detectHostCgroupLayout(): Promise<CgroupLayout> {
  const [mountinfo, procCgroup] = await Promise.all([
    Deno.readTextFile("/proc/self/mountinfo"),
    Deno.readTextFile("/proc/self/cgroup"),
  ]);
  return detectCgroupLayout({ mountinfo, procCgroup });
}
