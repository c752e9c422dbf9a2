/**
 * The kernel side of a cgroup2 file system, played over a temporary directory, for testing
 * the v2 backend on this v1 host. It behaves as cgroup2 does where the backend depends on it:
 * mkdir fills a new cgroup with its interface files (controller files only for controllers
 * the parent enabled), `cgroup.subtree_control` takes "+name"/"-name" and refuses a cgroup
 * with processes (no internal processes; the root is exempt) and controllers the cgroup was
 * not given, `cgroup.procs` moves a pid, `cgroup.kill` empties a subtree, `io.max` merges a
 * line per device and refuses unknown disks, `pids.max` and the `memory.*` limits take
 * "max" or a whole number (memory rounded down to whole pages, as the kernel keeps it) and
 * refuse anything else, rmdir refuses a cgroup with processes or children. No file is ever
 * created by a write. Every write is logged for exact assertions.
 * @module
 */

import { join } from "node:path";
import { subfolderNames } from "./dir_names.ts";
import { type CgroupFs, hostCgroupFs } from "../../lib/cgroup/fs.ts";

/** The kernel's controller order, as cgroup.controllers lists them. */
const KERNEL_ORDER = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"];

/** One write the backend made: the path below the tree's root and the value. */
export interface LoggedWrite {
  readonly path: string;
  readonly value: string;
}

/** Options of {@link FakeCgroup2}. */
export interface FakeCgroup2Options {
  /** Our own cgroup ("/system.slice/ijrd.service"). */
  readonly ownPath: string;
  /** Pids in our own cgroup. */
  readonly ownPids: readonly number[];
  /** Controllers our own cgroup is given (its parent's subtree_control). */
  readonly delegated: readonly string[];
  /** Disks io.max accepts ("254:0"). */
  readonly disks: readonly string[];
}

function errorWithCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The page size the kernel keeps memory limits in. */
const PAGE_SIZE = 4096;

/** A limit file's value as the kernel stores it: "max", or a number rounded down to `unit`. */
function limitValue(value: string, unit: number): string {
  const trimmed = value.trim();
  if (trimmed === "max") return "max";
  if (!/^\d+$/.test(trimmed)) throw errorWithCode("Invalid argument (os error 22)", "EINVAL");
  const amount = BigInt(trimmed);
  return String(amount - amount % BigInt(unit));
}

function sortControllers(names: Iterable<string>): string {
  return [...names].sort((a, b) => KERNEL_ORDER.indexOf(a) - KERNEL_ORDER.indexOf(b)).join(" ");
}

/** A cgroup2 tree in a temporary directory, with the kernel's rules. */
export class FakeCgroup2 implements CgroupFs {
  readonly root: string;
  readonly writes: LoggedWrite[] = [];
  /** How many times listDirs ran (a listing reads every file of a cgroup directory). */
  listings = 0;
  readonly #disks: readonly string[];

  private constructor(root: string, disks: readonly string[]) {
    this.root = root;
    this.#disks = disks;
  }

  /** Builds the tree: the root with every controller enabled down to our own cgroup. */
  static async create(options: FakeCgroup2Options): Promise<FakeCgroup2> {
    const root = await Deno.makeTempDir({ prefix: "ijr-fake-cgroup2-" });
    const fake = new FakeCgroup2(root, options.disks);
    await fake.#populate(root, KERNEL_ORDER.slice(0, 6), true);
    let dir = root;
    const components = options.ownPath.split("/").filter((part) => part !== "");
    for (const [index, component] of components.entries()) {
      const last = index === components.length - 1;
      await Deno.writeTextFile(
        `${dir}/cgroup.subtree_control`,
        last ? sortControllers(options.delegated) + "\n" : "cpu io memory pids\n",
      );
      dir = join(dir, component);
      await Deno.mkdir(dir);
      await fake.#populate(dir, last ? options.delegated : ["cpu", "io", "memory", "pids"], false);
    }
    await Deno.writeTextFile(
      `${dir}/cgroup.procs`,
      options.ownPids.map((pid) => `${pid}\n`).join(""),
    );
    return fake;
  }

  async #populate(dir: string, controllers: readonly string[], isRoot: boolean): Promise<void> {
    const files: Record<string, string> = {
      "cgroup.controllers": sortControllers(controllers) + "\n",
      "cgroup.subtree_control": "\n",
      "cgroup.procs": "",
      "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
    };
    if (!isRoot) {
      Object.assign(files, {
        "cgroup.kill": "",
        "cgroup.freeze": "0\n",
        "cgroup.events": "populated 0\nfrozen 0\n",
        "cgroup.type": "domain\n",
      });
      if (controllers.includes("cpu")) {
        Object.assign(files, { "cpu.weight": "100\n", "cpu.max": "max 100000\n" });
      }
      if (controllers.includes("memory")) {
        Object.assign(files, {
          "memory.max": "max\n",
          "memory.swap.max": "max\n",
          "memory.current": "0\n",
          "memory.peak": "0\n",
          "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
        });
      }
      if (controllers.includes("io")) files["io.max"] = "";
      if (controllers.includes("pids")) {
        Object.assign(files, { "pids.max": "max\n", "pids.current": "0\n" });
      }
    }
    for (const [name, content] of Object.entries(files)) {
      await Deno.writeTextFile(join(dir, name), content);
    }
  }

  /** A directory of the tree from a cgroup path ("/system.slice"). */
  dir(path: string): string {
    return path === "/" ? this.root : this.root + path;
  }

  /** Reads a file of the tree by cgroup path and file name. */
  read(path: string, file: string): Promise<string> {
    return Deno.readTextFile(join(this.dir(path), file));
  }

  /** Puts a (pretend) process into a cgroup, as a fork inside it would. */
  async addProcess(path: string, pid: number): Promise<void> {
    await Deno.writeTextFile(join(this.dir(path), "cgroup.procs"), `${pid}\n`, { append: true });
  }

  /** Writes a counter file directly, as the kernel's accounting would. */
  async setCounter(path: string, file: string, content: string): Promise<void> {
    await Deno.writeTextFile(join(this.dir(path), file), content);
  }

  /** Every directory of the tree, as cgroup paths, sorted. */
  async cgroups(): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string, path: string) => {
      found.push(path);
      for await (const entry of Deno.readDir(dir)) {
        if (entry.isDirectory) {
          await walk(
            join(dir, entry.name),
            path === "/" ? `/${entry.name}` : `${path}/${entry.name}`,
          );
        }
      }
    };
    await walk(this.root, "/");
    return found.sort();
  }

  /** Deletes the temporary tree. */
  async dispose(): Promise<void> {
    await Deno.remove(this.root, { recursive: true });
  }

  #relative(path: string): string {
    if (!path.startsWith(this.root)) throw new Error(`${path} is outside the fake cgroup tree`);
    return path.slice(this.root.length) || "/";
  }

  async #procs(dir: string): Promise<string[]> {
    return (await Deno.readTextFile(join(dir, "cgroup.procs"))).split("\n").filter((line) =>
      line !== ""
    );
  }

  async #allDirs(dir: string): Promise<string[]> {
    const dirs = [dir];
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) dirs.push(...await this.#allDirs(join(dir, entry.name)));
    }
    return dirs;
  }

  readFile(path: string): Promise<string> {
    return Deno.readTextFile(path);
  }

  async writeFile(path: string, value: string): Promise<void> {
    this.writes.push({ path: this.#relative(path), value });
    await Deno.lstat(path); // NotFound: cgroup files are never created by a write.
    const dir = path.slice(0, path.lastIndexOf("/"));
    const name = path.slice(path.lastIndexOf("/") + 1);
    const isRoot = dir === this.root;
    switch (name) {
      case "cgroup.subtree_control": {
        const offered = new Set(
          (await Deno.readTextFile(join(dir, "cgroup.controllers"))).split(/\s+/),
        );
        const enabled = new Set(
          (await Deno.readTextFile(path)).split(/\s+/).filter((token) => token !== ""),
        );
        for (const token of value.split(/\s+/).filter((part) => part !== "")) {
          const controller = token.slice(1);
          if (!offered.has(controller) || !"+-".includes(token[0])) {
            throw errorWithCode(`No such file or directory (os error 2): ${token}`, "ENOENT");
          }
          if (token[0] === "+") {
            if (!isRoot && (await this.#procs(dir)).length > 0) {
              throw new Deno.errors.Busy("Device or resource busy (os error 16)");
            }
            enabled.add(controller);
          } else enabled.delete(controller);
        }
        await Deno.writeTextFile(path, sortControllers(enabled) + "\n");
        return;
      }
      case "cgroup.procs": {
        if (
          !isRoot && (await Deno.readTextFile(join(dir, "cgroup.subtree_control"))).trim() !== ""
        ) {
          throw new Deno.errors.Busy("Device or resource busy (os error 16)");
        }
        for (const other of await this.#allDirs(this.root)) {
          const kept = (await this.#procs(other)).filter((pid) => pid !== value.trim());
          await Deno.writeTextFile(
            join(other, "cgroup.procs"),
            kept.map((pid) => `${pid}\n`).join(""),
          );
        }
        await Deno.writeTextFile(path, `${value.trim()}\n`, { append: true });
        return;
      }
      case "cgroup.kill":
        for (const below of await this.#allDirs(dir)) {
          await Deno.writeTextFile(join(below, "cgroup.procs"), "");
        }
        return;
      case "io.max": {
        const [disk, ...settings] = value.trim().split(/\s+/);
        if (!this.#disks.includes(disk)) {
          throw errorWithCode("No such device (os error 19)", "ENODEV");
        }
        const lines = new Map<string, Map<string, string>>();
        for (
          const line of (await Deno.readTextFile(path)).split("\n").filter((part) => part !== "")
        ) {
          const [key, ...pairs] = line.split(" ");
          lines.set(key, new Map(pairs.map((pair) => pair.split("=") as [string, string])));
        }
        const entry = lines.get(disk) ??
          new Map([["rbps", "max"], ["wbps", "max"], ["riops", "max"], ["wiops", "max"]]);
        for (const setting of settings) {
          const [key, amount] = setting.split("=");
          if (!entry.has(key)) throw errorWithCode("Invalid argument (os error 22)", "EINVAL");
          entry.set(key, amount);
        }
        lines.set(disk, entry);
        await Deno.writeTextFile(
          path,
          [...lines].map(([key, pairs]) =>
            `${key} ${[...pairs].map(([k, v]) => `${k}=${v}`).join(" ")}\n`
          )
            .join(""),
        );
        return;
      }
      case "pids.max":
        await Deno.writeTextFile(path, `${limitValue(value, 1)}\n`);
        return;
      case "memory.max":
      case "memory.swap.max":
        await Deno.writeTextFile(path, `${limitValue(value, PAGE_SIZE)}\n`);
        return;
      default:
        await Deno.writeTextFile(path, `${value}\n`);
    }
  }

  exists(path: string): Promise<boolean> {
    // Existence has no kernel side to play: the host's check on the temporary tree.
    return hostCgroupFs.exists(path);
  }

  async mkdir(path: string): Promise<void> {
    this.#relative(path);
    await Deno.mkdir(path);
    const parent = path.slice(0, path.lastIndexOf("/"));
    const given = (await Deno.readTextFile(join(parent, "cgroup.subtree_control"))).split(/\s+/)
      .filter((name) => name !== "");
    await this.#populate(path, given, false);
  }

  async rmdir(path: string): Promise<void> {
    this.#relative(path);
    let children = false;
    for await (const entry of Deno.readDir(path)) if (entry.isDirectory) children = true;
    if (children || (await this.#procs(path)).length > 0) {
      throw new Deno.errors.Busy("Device or resource busy (os error 16)");
    }
    // The kernel's interface files go with the cgroup.
    await Deno.remove(path, { recursive: true });
  }

  /** cgroup2 refuses every rename of a cgroup (EPERM): the kernel gives it no rename. */
  rename(from: string, to: string): Promise<void> {
    this.#relative(from);
    this.#relative(to);
    return Promise.reject(new Deno.errors.PermissionDenied("Operation not permitted (os error 1)"));
  }

  listDirs(path: string): Promise<string[]> {
    this.listings++;
    return subfolderNames(path);
  }

  async childCount(path: string): Promise<number> {
    return (await subfolderNames(path)).length;
  }
}
