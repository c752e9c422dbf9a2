/**
 * Where this process sits in each cgroup hierarchy it is in: its cgroup's folder under every
 * mount of that hierarchy (one per v1 controller set, the v2 one). Test daemons, the test
 * controllers and the leak check make their cgroups below these, never elsewhere.
 * @module
 */

/** This process's cgroup folders, one per mounted hierarchy, each once. */
export function ownCgroupDirs(): string[] {
  const dirs: string[] = [];
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n");
  for (const line of Deno.readTextFileSync("/proc/self/cgroup").trim().split("\n")) {
    const [, controllers, path] = line.split(":");
    for (const mount of mounts) {
      const fields = mount.split(" ");
      const separator = fields.indexOf("-");
      if (separator < 0) continue;
      const fs = fields[separator + 1];
      const options = (fields[separator + 3] ?? "").split(",");
      const matches = controllers === ""
        ? fs === "cgroup2"
        : fs === "cgroup" && controllers.split(",").every((c) => options.includes(c));
      if (matches) dirs.push(`${fields[4]}${path === "/" ? "" : path}`);
    }
  }
  return [...new Set(dirs)];
}

/** The child cgroups (folders) of `dir`; none when it does not exist or cannot be read. */
export function childCgroups(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => `${dir}/${e.name}`);
  } catch {
    return [];
  }
}
