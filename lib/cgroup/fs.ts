/**
 * The few file operations the backends do on a cgroup file system, behind a small interface.
 * On the host they are the plain system calls; the v2 tests (this host is v1) run the v2
 * backend against a temporary tree whose kernel side (files appearing on mkdir, moves of
 * pids, subtree_control rules) a test double plays. Errors keep Deno's classes
 * (NotFound, AlreadyExists, Busy) so callers can tell them apart.
 * @module
 */

import { IjrError } from "../errors/mod.ts";

/** File operations on a cgroup file system. */
export interface CgroupFs {
  /** Reads a cgroup file. */
  readFile(path: string): Promise<string>;
  /** Writes `value` to an existing cgroup file in one write(2); never creates a file. */
  writeFile(path: string, value: string): Promise<void>;
  /** True when `path` exists. */
  exists(path: string): Promise<boolean>;
  /** Creates one cgroup directory (mkdir(2)); throws AlreadyExists when it is there. */
  mkdir(path: string): Promise<void>;
  /** Removes one cgroup directory (rmdir(2)); the kernel's files go with it. */
  rmdir(path: string): Promise<void>;
  /**
   * Renames a cgroup within its parent (rename(2)): cgroup v1 only, cgroup2 refuses every
   * rename. Throws AlreadyExists when `to` is there, NotFound when `from` is not.
   */
  rename(from: string, to: string): Promise<void>;
  /** Names of the sub-directories (child cgroups) of `path`. */
  listDirs(path: string): Promise<string[]>;
  /** How many sub-directories (child cgroups) `path` has, without listing them. */
  childCount(path: string): Promise<number>;
}

const encoder = new TextEncoder();

/**
 * The host's cgroup file system: plain system calls, made synchronously. cgroupfs is kernel
 * memory, not a disk: a mkdir, a limit write or a read of a counter takes microseconds, while a
 * trip through Deno's blocking pool costs 0.3-1.5 ms of waiting on a loaded machine, and a
 * job's create and removal make about twenty of them in a row (bench/README.md). The one call
 * that can wait in the kernel, a `cgroup.procs` write (an RCU grace period on v1), is made only
 * at start-up (v2: ijrd moving itself into its leaf); jobs join through their child.
 */
export const hostCgroupFs: CgroupFs = {
  readFile: (path) => settled(() => Deno.readTextFileSync(path)),
  writeFile: (path, value) =>
    settled(() => {
      // No O_CREAT: a missing file is a missing controller, never something to create. One
      // write(2) per value: cgroup files parse each write on its own.
      using file = Deno.openSync(path, { write: true });
      const bytes = encoder.encode(value);
      const written = retryInterrupted(() => file.writeSync(bytes));
      if (written !== bytes.length) {
        throw new Error(`short write to ${path}: ${written} of ${bytes.length} bytes`);
      }
    }),
  exists: (path) =>
    settled(() => {
      try {
        Deno.lstatSync(path);
        return true;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return false;
        throw error;
      }
    }),
  mkdir: (path) => settled(() => Deno.mkdirSync(path)),
  // Deno.remove without `recursive` is rmdir(2) for a directory: what cgroupfs needs. On this
  // thread too: each trip to the blocking pool cost this thread 70-100 µs of dispatch on this
  // VM (waking a pool thread), six per job, while the kernel removes an empty job cgroup in
  // 20-30 µs (bench/README.md, "ijrd's thread at 4 RunJobs"). It takes cgroup_mutex, as the
  // mkdirs and joins do; a removal still happens after the job's end is reported.
  rmdir: (path) => settled(() => Deno.removeSync(path)),
  rename: (from, to) => settled(() => Deno.renameSync(from, to)),
  listDirs: (path) =>
    settled(() =>
      [...Deno.readDirSync(path)].filter((entry) => entry.isDirectory).map((entry) => entry.name)
        .sort()
    ),
  // kernfs (cgroupfs, v1 and v2) keeps a directory's link count at 2 plus its sub-directories,
  // as ext4 and tmpfs do: one lstat instead of reading the dozens of control files a listing
  // goes through.
  childCount: (path) => settled(() => linkCount(path) - 2),
};

function linkCount(path: string): number {
  const { nlink } = Deno.lstatSync(path);
  if (nlink === null) throw new Error(`no link count for ${path}`);
  return nlink;
}

/**
 * Runs `write` again while it fails with EINTR. A limit write can fail so even when nothing
 * is wrong: the memory controller's resize loop returns EINTR (never a restartable error)
 * whenever a signal is pending, such as a job's init ending (SIGCHLD) or a profiler's tick,
 * and SA_RESTART does not restart it. The write is idempotent: the same value again.
 */
function retryInterrupted<T>(write: () => T, attempts = 100): T {
  for (let attempt = 1;; attempt++) {
    try {
      return write();
    } catch (error) {
      if (!(error instanceof Deno.errors.Interrupted) || attempt >= attempts) throw error;
    }
  }
}

/** Runs `operation` now; its result or its error as a settled promise, as the async API gives. */
function settled<T>(operation: () => T): Promise<T> {
  try {
    return Promise.resolve(operation());
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Writes a cgroup file, turning a failure into an INTERNAL error naming the file and value. */
export async function writeCgroupFile(fs: CgroupFs, path: string, value: string): Promise<void> {
  try {
    await fs.writeFile(path, value);
  } catch (error) {
    throw new IjrError(
      "INTERNAL",
      `cannot write "${value}" to ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Creates a cgroup directory. Resolves to false when it already exists; any other failure
 * becomes an INTERNAL error naming the directory.
 */
export async function makeCgroupDir(fs: CgroupFs, path: string): Promise<boolean> {
  try {
    await fs.mkdir(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw new IjrError("INTERNAL", `cannot create cgroup ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Reads a cgroup file, or undefined when it does not exist (a controller not enabled). */
export async function readOptional(fs: CgroupFs, path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * The names of the child cgroups of any of `dirs` (one cgroup's directories, one per v1
 * hierarchy), each once, sorted; a directory that does not exist has none.
 */
export async function listChildCgroups(fs: CgroupFs, dirs: readonly string[]): Promise<string[]> {
  const names = new Set<string>();
  for (const dir of dirs) {
    try {
      for (const name of await fs.listDirs(dir)) names.add(name);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return [...names].sort();
}

/** Parses a `cgroup.procs` file into pids. */
export function parsePids(text: string): number[] {
  return text.split("\n").filter((line) => line.trim() !== "").map(Number);
}
