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
  // find hands the file names to sha256sum as raw bytes: names that are not UTF-8 (an
  // archive's names need not be) come back decoded exactly as in the listing above.
  const hashes = new Map<string, string>();
  const out = await run("find", [dir, "-type", "f", "-exec", "sha256sum", "-z", "--", "{}", "+"]);
  for (const line of out.split("\0").filter(Boolean)) {
    hashes.set(line.slice(66).slice(dir.length + 1), line.slice(0, 64));
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
