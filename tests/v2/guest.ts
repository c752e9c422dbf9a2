/**
 * Helpers of the cgroup v2 test set. These tests run inside the VM that `make test-v2` boots
 * (tests/vm): a stock Debian kernel with only cgroup2 mounted, started from a delegated
 * cgroup the way systemd starts a `Delegate=yes` service. Everywhere else (the cgroup v1
 * development and CI hosts) they are ignored with a visible reason: the lane runs them.
 *
 * Test cgroups are made the way a delegated daemon must make them: the runner's own cgroup
 * holds processes, so before it can enable controllers for children, its processes move into
 * a leaf (`ijr-daemon`, the same leaf lib/cgroup uses, so both agree on "our own cgroup").
 * @module
 */

/** True inside the test VM (set by tests/vm/guest_init.sh). */
export const IN_V2_GUEST: boolean = Deno.env.get("IJR_V2_GUEST") === "1";

/** Where the guest mounts the unified hierarchy. */
export const CGROUP_ROOT = "/sys/fs/cgroup";

/** The leaf a delegated daemon moves into; lib/cgroup's DAEMON_LEAF has the same value. */
export const DAEMON_LEAF = "ijr-daemon";

/** The controllers IJR uses on v2. */
export const CONTROLLERS = ["cpu", "io", "memory", "pids"] as const;

let warned = false;

/** Registers a test that needs the cgroup v2 guest; ignored (visibly) elsewhere. */
export function v2Test(name: string, fn: () => Promise<void> | void): void {
  if (!IN_V2_GUEST && !warned) {
    warned = true;
    console.error(
      "SKIP: tests/v2 need a pure cgroup v2 kernel and run in the VM lane: make test-v2",
    );
  }
  Deno.test({ name, ignore: !IN_V2_GUEST, fn });
}

/** Reads a cgroup (or any) file, without the trailing newline. */
export async function readText(path: string): Promise<string> {
  return (await Deno.readTextFile(path)).replace(/\n$/, "");
}

/** Writes one value to a cgroup file (one write(2), as the kernel expects). */
export async function writeValue(path: string, value: string): Promise<void> {
  await Deno.writeTextFile(path, value);
}

/** Parses a flat keyed file ("oom_kill 1\nmax 3") into numbers. */
export function parseKeyed(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) values.set(key, Number(value));
  }
  return values;
}

/** One value of a keyed cgroup file; throws when the key is absent. */
export async function keyedValue(path: string, key: string): Promise<number> {
  const value = parseKeyed(await readText(path)).get(key);
  if (value === undefined) throw new Error(`${path} has no "${key}"`);
  return value;
}

/** The cgroup path of this process ("/ijr-test.slice/runner/ijr-daemon"). */
export async function ownCgroupPath(): Promise<string> {
  const text = await readText("/proc/self/cgroup");
  const lines = text.split("\n");
  if (lines.length !== 1 || !lines[0].startsWith("0::")) {
    throw new Error(`/proc/self/cgroup is not a pure v2 membership: ${JSON.stringify(text)}`);
  }
  return lines[0].slice(3);
}

/** The process IDs in a cgroup (its cgroup.procs). */
export async function procsOf(dir: string): Promise<number[]> {
  return (await readText(`${dir}/cgroup.procs`)).split("\n").filter((line) => line !== "").map(
    Number,
  );
}

let delegated: Promise<string> | undefined;

/**
 * The directory test cgroups go in: the runner's own cgroup, after its processes moved into
 * the `ijr-daemon` leaf and the controllers were enabled for its children. Done once.
 */
export function delegatedParent(): Promise<string> {
  delegated ??= delegate();
  return delegated;
}

async function delegate(): Promise<string> {
  const own = await ownCgroupPath();
  if (own.endsWith(`/${DAEMON_LEAF}`)) {
    return `${CGROUP_ROOT}${own.slice(0, -DAEMON_LEAF.length - 1)}`;
  }
  const dir = `${CGROUP_ROOT}${own}`;
  const leaf = `${dir}/${DAEMON_LEAF}`;
  await Deno.mkdir(leaf);
  // New processes may be forked meanwhile (the init, deno's helpers): move until empty.
  for (let round = 0; round < 10; round++) {
    const pids = await procsOf(dir);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        await writeValue(`${leaf}/cgroup.procs`, String(pid));
      } catch (error) {
        if ((error as { code?: string }).code !== "ESRCH") throw error;
      }
    }
  }
  await writeValue(`${dir}/cgroup.subtree_control`, CONTROLLERS.map((c) => `+${c}`).join(" "));
  return dir;
}

let serial = 0;

/** A new, empty cgroup below the delegated parent; remove it with {@link destroyCgroup}. */
export async function makeCgroup(name: string): Promise<string> {
  const dir = `${await delegatedParent()}/v2test-${name}-${Deno.pid}-${serial++}`;
  await Deno.mkdir(dir);
  return dir;
}

/** Polls `check` every 20 ms until it holds or `timeoutMs` passed; returns whether it held. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** True while a task is in the cgroup or below it (cgroup.events "populated 1"). */
export async function isPopulated(dir: string): Promise<boolean> {
  return (await keyedValue(`${dir}/cgroup.events`, "populated")) === 1;
}

/**
 * Kills everything in a test cgroup (and its children) and removes it, children first.
 * For cleanup in `finally`: a cgroup already gone is fine.
 */
export async function destroyCgroup(dir: string): Promise<void> {
  try {
    await Deno.stat(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) await destroyCgroup(`${dir}/${entry.name}`);
  }
  await writeValue(`${dir}/cgroup.kill`, "1");
  if (!(await waitFor(async () => !(await isPopulated(dir)), 5_000))) {
    throw new Error(`${dir} still has tasks 5 s after cgroup.kill`);
  }
  // rmdir can report EBUSY briefly after the last task died.
  let lastError: unknown;
  const removed = await waitFor(async () => {
    try {
      await Deno.remove(dir);
      return true;
    } catch (error) {
      lastError = error;
      return false;
    }
  }, 5_000);
  if (!removed) throw new Error(`cannot remove ${dir}: ${lastError}`);
}

/**
 * A command whose program starts inside cgroup `dir`: a shell writes its own PID into
 * `cgroup.procs` and then execs the program, so not one instruction of the program runs
 * outside the cgroup (the shell-level equivalent of CLONE_INTO_CGROUP).
 */
export function commandIn(
  dir: string,
  argv: readonly string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
): Deno.Command {
  return new Deno.Command("/bin/sh", {
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...options,
    args: ["-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, ...argv],
  });
}

/** Starts a command in cgroup `dir` and waits until it is in there. */
export async function spawnIn(
  dir: string,
  argv: readonly string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
): Promise<Deno.ChildProcess> {
  const child = commandIn(dir, argv, { stdout: "null", stderr: "null", ...options }).spawn();
  if (!(await waitFor(async () => (await procsOf(dir)).includes(child.pid), 5_000))) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`${argv.join(" ")} did not enter ${dir}`);
  }
  return child;
}

/**
 * The data disk's mount point: an ext4 file system run_v2.sh made (with empty `rootfs/` and
 * `state/`) and the guest init mounted. Jobs with user namespaces keep their rootfs and state
 * there: their rootfs is seen through an idmapped mount, which ext4 supports and the guest's
 * tmpfs root does not (tmpfs has idmapped mounts from Linux 6.3; the guest runs 6.1).
 */
export function dataDir(): string {
  const dir = Deno.env.get("IJR_V2_DATA");
  if (!dir) throw new Error("IJR_V2_DATA is not set: the guest init mounts the data disk");
  return dir;
}

/** The file system type of the mount at `mountPoint` (from /proc/self/mountinfo). */
export async function mountTypeAt(mountPoint: string): Promise<string | undefined> {
  let type: string | undefined;
  for (const line of (await readText("/proc/self/mountinfo")).split("\n")) {
    // "36 25 254:16 / /var/lib/ijr rw,relatime shared:1 - ext4 /dev/vdb rw": fields up to
    // the optional ones, a "-", then the type. The last mount on a point is the visible one.
    const [before, after] = line.split(" - ");
    if (before?.split(" ")[4] === mountPoint && after) type = after.split(" ")[0];
  }
  return type;
}

/** The test disk (a virtio disk the host attached for I/O tests), e.g. "/dev/vda". */
export function testDisk(): string {
  const disk = Deno.env.get("IJR_V2_DISK");
  if (!disk) throw new Error("IJR_V2_DISK is not set: the guest init names the test disk");
  return disk;
}

/** "MAJ:MIN" of the test disk, as the kernel names it in io.max. */
export async function testDiskNumbers(): Promise<string> {
  const name = testDisk().replace(/^\/dev\//, "");
  return await readText(`/sys/block/${name}/dev`);
}

/** What a timed direct-I/O loop measured. */
export interface IoRun {
  /** Operations per second over the whole run. */
  readonly iops: number;
  /** The exit status of dd. */
  readonly success: boolean;
  /** dd's stderr, for failure messages. */
  readonly stderr: string;
}

/**
 * Runs `count` 4 KiB direct-I/O operations on the test disk from inside cgroup `dir`, one at
 * a time (O_DIRECT: each is one request to the disk, none served from the page cache) and
 * measures operations per second.
 */
export async function directIo(
  dir: string,
  options: { readonly op: "read" | "write"; readonly count: number },
): Promise<IoRun> {
  const disk = testDisk();
  const args = options.op === "read"
    ? [`if=${disk}`, "of=/dev/null", "iflag=direct"]
    : ["if=/dev/zero", `of=${disk}`, "oflag=direct", "conv=notrunc"];
  const started = performance.now();
  const out = await commandIn(dir, ["dd", "bs=4096", `count=${options.count}`, ...args]).output();
  const seconds = (performance.now() - started) / 1000;
  return {
    iops: options.count / seconds,
    success: out.success,
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** errno names Deno leaves without a `code` (it names only the common ones). */
const ERRNO_NAMES: Record<number, string> = { 34: "ERANGE" };

/** Awaits `action` and returns the errno name ("EBUSY") it failed with; throws if it did not. */
export async function errnoOf(action: Promise<unknown>): Promise<string> {
  try {
    await action;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code) return code;
    const errno = Number(/\(os error (\d+)\)/.exec(String((error as Error).message))?.[1]);
    if (ERRNO_NAMES[errno]) return ERRNO_NAMES[errno];
    throw error;
  }
  throw new Error("expected the kernel to refuse, but the operation succeeded");
}
