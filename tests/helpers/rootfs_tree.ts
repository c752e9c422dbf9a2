/**
 * Comparing extracted trees exactly: every entry's type, mode (with setuid/setgid/sticky),
 * owner, mtime to the nanosecond, symlink target, file size and content hash, and which
 * paths share an inode (hard links). Read with find(1) and sha256sum(1), independent of the
 * code under test.
 * @module
 */

const decoder = new TextDecoder();

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout);
}

/** Options for treeListing. */
export interface ListingOptions {
  /** Leave out device nodes, FIFOs and sockets (the store skips them). */
  withoutSpecial?: boolean;
  /** Show directory mtimes as "-": directories an archive does not list are made by the
   * extractor at extraction time, so only trees of complete archives agree on them. */
  withoutDirectoryMtimes?: boolean;
}

/**
 * One line per entry, sorted by path: "path type mode uid:gid mtime target size sha256
 * links=<other paths with the same inode>". Directory sizes are left out (they depend on
 * the file system's history, not on the archive).
 */
export async function treeListing(dir: string, options: ListingOptions = {}): Promise<string[]> {
  const raw = await run("find", [dir, "-printf", "%P\\0%y\\0%#m\\0%U:%G\\0%T@\\0%l\\0%s\\0%i\\0"]);
  const fields = raw.split("\0");
  const rows: { path: string; type: string; rest: string; inode: string }[] = [];
  for (let i = 0; i + 8 <= fields.length; i += 8) {
    const [path, type, mode, owner, mtime, target, size, inode] = fields.slice(i, i + 8);
    if (options.withoutSpecial && ["c", "b", "p", "s"].includes(type)) continue;
    const shownSize = type === "d" ? "-" : size;
    const shownMtime = type === "d" && options.withoutDirectoryMtimes ? "-" : mtime;
    rows.push({
      path: path === "" ? "." : path,
      type,
      rest: `${type} ${mode} ${owner} ${shownMtime} ${JSON.stringify(target)} ${shownSize}`,
      inode,
    });
  }
  const byInode = new Map<string, string[]>();
  for (const row of rows) {
    if (row.type === "d") continue;
    byInode.set(row.inode, [...(byInode.get(row.inode) ?? []), row.path]);
  }
  const files = rows.filter((row) => row.type === "f").map((row) => row.path);
  const hashes = new Map<string, string>();
  if (files.length > 0) {
    // Paths are relative to dir; hash in batches to keep the argument list bounded.
    for (let at = 0; at < files.length; at += 500) {
      const batch = files.slice(at, at + 500).map((path) => `${dir}/${path}`);
      const out = await run("sha256sum", ["-z", "--", ...batch]);
      for (const line of out.split("\0").filter(Boolean)) {
        const hash = line.slice(0, 64);
        const path = line.slice(66).slice(dir.length + 1);
        hashes.set(path, hash);
      }
    }
  }
  return rows
    .map((row) => {
      const others = (byInode.get(row.inode) ?? []).filter((path) => path !== row.path).sort();
      const hash = hashes.get(row.path) ?? "-";
      return `${JSON.stringify(row.path)} ${row.rest} ${hash} links=${others.join(",")}`;
    })
    .sort();
}

/** Runs a command, throwing with its stderr when it fails. */
export async function mustRun(cmd: string, args: string[]): Promise<string> {
  return await run(cmd, args);
}
