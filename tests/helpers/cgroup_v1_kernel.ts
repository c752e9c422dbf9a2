/**
 * The kernel side of cgroup v1 hierarchies, played over a temporary directory, for the parts
 * of the v1 backend a real host cannot show: a memory hierarchy that is not hierarchical
 * (kernels since 5.11 refuse `memory.use_hierarchy` 0), a host without swap accounting, and
 * the exact order of writes. It behaves as v1 does where the backend depends on it: mkdir
 * fills a new cgroup with the interface files of its hierarchy's controllers (inheriting
 * `memory.use_hierarchy`), `memory.limit_in_bytes` and `memory.memsw.limit_in_bytes` take a
 * whole number (rounded down to pages) or -1 for no limit, refuse "max", and refuse any value
 * that would leave memsw below memory; `pids.max` takes "max" or a whole number; rmdir
 * refuses a cgroup with processes or children; rename works only within a parent and never
 * onto a name in use. No file is ever created by a write. Every write is logged for exact
 * assertions.
 * @module
 */

import { join } from "node:path";
import { subfolderNames } from "./dir_names.ts";
import type { V1Controller, V1Layout } from "../../lib/cgroup/detect.ts";
import type { CgroupFs } from "../../lib/cgroup/fs.ts";

/** What v1 shows for "no memory limit": the page counter's maximum, with 4 KiB pages. */
export const V1_UNLIMITED = "9223372036854771712";

const PAGE_SIZE = 4096n;

/** One write the backend made: the path below the tree's root and the value. */
export interface LoggedWrite {
  readonly path: string;
  readonly value: string;
}

/** Options of {@link FakeCgroup1.create}. */
export interface FakeCgroup1Options {
  /** The hierarchies, each mounted at `<root>/<controllers joined by ",">`. */
  readonly hierarchies: readonly (readonly V1Controller[])[];
  /** Our own cgroup in every hierarchy ("/system.slice/ijrd.service"). */
  readonly ownPath: string;
  /** `memory.use_hierarchy` of the root ("1", "0"), or undefined for no such file. */
  readonly useHierarchy?: "0" | "1";
  /** Whether memory.memsw.* exist (swap accounting). */
  readonly swapAccounting: boolean;
}

function errorWithCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function invalid(): Error {
  return errorWithCode("Invalid argument (os error 22)", "EINVAL");
}

/** Parses a v1 memory limit write: -1, or bytes rounded down to whole pages. */
function memoryLimit(value: string): bigint {
  const trimmed = value.trim();
  if (trimmed === "-1") return BigInt(V1_UNLIMITED);
  if (!/^\d+$/.test(trimmed)) throw invalid();
  const bytes = BigInt(trimmed);
  return bytes - bytes % PAGE_SIZE;
}

/** cgroup v1 hierarchies in a temporary directory, with the kernel's rules. */
export class FakeCgroup1 implements CgroupFs {
  readonly root: string;
  readonly writes: LoggedWrite[] = [];
  /** How many times listDirs ran (a listing reads every file of a cgroup directory). */
  listings = 0;
  readonly #options: FakeCgroup1Options;

  private constructor(root: string, options: FakeCgroup1Options) {
    this.root = root;
    this.#options = options;
  }

  /** Builds every hierarchy with our own cgroup in it. */
  static async create(options: FakeCgroup1Options): Promise<FakeCgroup1> {
    const root = await Deno.makeTempDir({ prefix: "ijr-fake-cgroup1-" });
    const fake = new FakeCgroup1(root, options);
    for (const controllers of options.hierarchies) {
      const mount = fake.mountPoint(controllers[0]);
      await Deno.mkdir(mount);
      await fake.#populate(mount, controllers, options.useHierarchy);
      let dir = mount;
      for (const part of options.ownPath.split("/").filter((name) => name !== "")) {
        dir = join(dir, part);
        await fake.mkdir(dir);
      }
    }
    return fake;
  }

  /** The layout the backend gets: every hierarchy, our own cgroup in each. */
  layout(): V1Layout {
    return {
      version: 1,
      hierarchies: this.#options.hierarchies.map((controllers) => ({
        controllers,
        mountPoint: this.mountPoint(controllers[0]),
        ownPath: this.#options.ownPath,
      })),
    };
  }

  /** Where the hierarchy carrying `controller` is mounted. */
  mountPoint(controller: V1Controller): string {
    const controllers = this.#options.hierarchies.find((list) => list.includes(controller));
    if (!controllers) throw new Error(`no ${controller} hierarchy in this fake`);
    return join(this.root, controllers.join(","));
  }

  /** A directory from a controller and a cgroup path ("memory", "/system.slice"). */
  dir(controller: V1Controller, path: string): string {
    return path === "/" ? this.mountPoint(controller) : this.mountPoint(controller) + path;
  }

  /** Reads a file by controller, cgroup path and name. */
  read(controller: V1Controller, path: string, file: string): Promise<string> {
    return Deno.readTextFile(join(this.dir(controller, path), file));
  }

  /** Sets a file directly, as the host's administrator (or the kernel) would. */
  async setFile(controller: V1Controller, path: string, file: string, content: string) {
    await Deno.writeTextFile(join(this.dir(controller, path), file), content);
  }

  /** Deletes the temporary tree. */
  async dispose(): Promise<void> {
    await Deno.remove(this.root, { recursive: true });
  }

  async #populate(
    dir: string,
    controllers: readonly V1Controller[],
    useHierarchy: string | undefined,
  ): Promise<void> {
    const files: Record<string, string> = { "cgroup.procs": "", "tasks": "" };
    for (const controller of controllers) {
      switch (controller) {
        case "cpu":
          files["cpu.shares"] = "1024\n";
          break;
        case "cpuacct":
          files["cpuacct.usage"] = "0\n";
          break;
        case "memory":
          Object.assign(files, {
            "memory.limit_in_bytes": `${V1_UNLIMITED}\n`,
            "memory.max_usage_in_bytes": "0\n",
            "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
            "memory.swappiness": "60\n",
          });
          if (useHierarchy !== undefined) files["memory.use_hierarchy"] = `${useHierarchy}\n`;
          if (this.#options.swapAccounting) {
            files["memory.memsw.limit_in_bytes"] = `${V1_UNLIMITED}\n`;
          }
          break;
        case "blkio":
          Object.assign(files, {
            "blkio.throttle.read_iops_device": "",
            "blkio.throttle.write_iops_device": "",
          });
          break;
        case "pids":
          Object.assign(files, { "pids.max": "max\n", "pids.current": "0\n" });
          break;
        case "freezer":
          files["freezer.state"] = "THAWED\n";
          break;
      }
    }
    for (const [name, content] of Object.entries(files)) {
      await Deno.writeTextFile(join(dir, name), content);
    }
  }

  #relative(path: string): string {
    if (!path.startsWith(this.root)) throw new Error(`${path} is outside the fake cgroup tree`);
    return path.slice(this.root.length);
  }

  readFile(path: string): Promise<string> {
    return Deno.readTextFile(path);
  }

  async writeFile(path: string, value: string): Promise<void> {
    this.writes.push({ path: this.#relative(path), value });
    await Deno.lstat(path); // NotFound: cgroup files are never created by a write.
    const dir = path.slice(0, path.lastIndexOf("/"));
    const name = path.slice(path.lastIndexOf("/") + 1);
    const current = async (file: string) =>
      BigInt((await Deno.readTextFile(join(dir, file))).trim());
    const exists = (file: string) => Deno.lstat(join(dir, file)).then(() => true, () => false);
    switch (name) {
      case "memory.limit_in_bytes": {
        const limit = memoryLimit(value);
        // The kernel keeps memsw >= memory: a memory limit above memsw is refused.
        if (await exists("memory.memsw.limit_in_bytes")) {
          if (limit > await current("memory.memsw.limit_in_bytes")) throw invalid();
        }
        await Deno.writeTextFile(path, `${limit}\n`);
        return;
      }
      case "memory.memsw.limit_in_bytes": {
        const limit = memoryLimit(value);
        if (limit < await current("memory.limit_in_bytes")) throw invalid();
        await Deno.writeTextFile(path, `${limit}\n`);
        return;
      }
      case "memory.use_hierarchy":
        // Since 5.11 the kernel is always hierarchical and refuses 0.
        if (value.trim() !== "1") throw invalid();
        await Deno.writeTextFile(path, "1\n");
        return;
      case "pids.max": {
        const trimmed = value.trim();
        if (trimmed !== "max" && !/^\d+$/.test(trimmed)) throw invalid();
        await Deno.writeTextFile(path, `${trimmed}\n`);
        return;
      }
      default:
        await Deno.writeTextFile(path, `${value}\n`);
    }
  }

  exists(path: string): Promise<boolean> {
    return Deno.lstat(path).then(() => true, (error) => {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    });
  }

  async mkdir(path: string): Promise<void> {
    const relative = this.#relative(path);
    await Deno.mkdir(path);
    const hierarchy = relative.split("/")[1];
    const controllers = hierarchy.split(",") as V1Controller[];
    const parent = path.slice(0, path.lastIndexOf("/"));
    // A child inherits use_hierarchy from its parent.
    const inherited = await Deno.readTextFile(join(parent, "memory.use_hierarchy")).then(
      (text) => text.trim(),
      () => undefined,
    );
    await this.#populate(path, controllers, inherited);
  }

  async rmdir(path: string): Promise<void> {
    this.#relative(path);
    for await (const entry of Deno.readDir(path)) {
      if (entry.isDirectory) throw new Deno.errors.Busy("Device or resource busy (os error 16)");
    }
    if ((await Deno.readTextFile(join(path, "cgroup.procs"))).trim() !== "") {
      throw new Deno.errors.Busy("Device or resource busy (os error 16)");
    }
    await Deno.remove(path, { recursive: true });
  }

  /** v1 renames a cgroup only within its parent (EIO otherwise) and never onto a name in use. */
  async rename(from: string, to: string): Promise<void> {
    this.#relative(from);
    this.#relative(to);
    if (from.slice(0, from.lastIndexOf("/")) !== to.slice(0, to.lastIndexOf("/"))) {
      throw errorWithCode("Input/output error (os error 5)", "EIO");
    }
    await Deno.lstat(from); // NotFound
    if (await this.exists(to)) throw new Deno.errors.AlreadyExists("File exists (os error 17)");
    await Deno.rename(from, to);
  }

  listDirs(path: string): Promise<string[]> {
    this.listings++;
    return subfolderNames(path);
  }

  async childCount(path: string): Promise<number> {
    return (await subfolderNames(path)).length;
  }
}
