/**
 * The round-trip tests' tree with everything a rootfs can hold, made on disk for GNU tar to
 * archive; the tar fuzzer mutates archives of it too.
 * @module
 */

import { join } from "node:path";
import { mustRun } from "./rootfs_tree.ts";

/** How makeSpecialTree fills the tree. */
export interface SpecialTreeOptions {
  /** Fractional mtimes (PAX keeps them; the GNU format cannot). */
  fractional: boolean;
  /** Bytes of usr/lib/big.bin. Default 3 MiB + 77: more than one batch of the writer. */
  bigFileBytes?: number;
  /** Fills usr/bin/passwd and usr/lib/big.bin (default crypto.getRandomValues); a seeded
   * one makes the same tree every time. Called with at most 65536 bytes. */
  fill?: (bytes: Uint8Array) => void;
}

/**
 * A tree with everything a rootfs can hold: absolute and relative symlinks, dangling ones,
 * hard links (also to a setuid file), setuid/setgid/sticky modes, foreign owners (also on a
 * symlink), names and link targets beyond ustar's 100/255 bytes, empty and large files,
 * device nodes and a FIFO. Every entry gets its own mtime, fractional when `fractional`.
 * Needs root (mknod, chown).
 */
export async function makeSpecialTree(src: string, options: SpecialTreeOptions): Promise<void> {
  const { fractional, bigFileBytes = 3 * 1024 * 1024 + 77 } = options;
  const fill = options.fill ?? ((bytes: Uint8Array) => crypto.getRandomValues(bytes));
  const random = (length: number) => {
    const bytes = new Uint8Array(length);
    // getRandomValues takes at most 65536 bytes at a time.
    for (let at = 0; at < length; at += 65536) fill(bytes.subarray(at, at + 65536));
    return bytes;
  };
  const p = (path: string) => join(src, path);
  for (
    const dir of [
      "bin",
      "usr/bin",
      "usr/sbin",
      "usr/lib",
      "home/user",
      "tmp",
      "srv/shared",
      "dev",
      "run",
    ]
  ) {
    await Deno.mkdir(p(dir), { recursive: true });
  }
  await Deno.writeTextFile(p("bin/busybox"), "#!/bin/true\n");
  await Deno.symlink("/bin/busybox", p("bin/sh"));
  await Deno.symlink("usr/lib", p("lib"));
  await Deno.symlink("/nonexistent/target", p("dangling"));
  await Deno.writeFile(p("usr/bin/passwd"), random(4096));
  await Deno.writeTextFile(p("usr/bin/wall"), "wall\n");
  await Deno.writeTextFile(p("usr/bin/a"), "shared inode\n");
  await Deno.link(p("usr/bin/a"), p("usr/bin/b"));
  await Deno.link(p("usr/bin/passwd"), p("usr/sbin/passwd-link"));
  await Deno.writeTextFile(p("home/user/.profile"), "export PS1='$ '\n");
  await Deno.writeFile(p("empty"), new Uint8Array(0));
  await Deno.writeFile(p("usr/lib/big.bin"), random(bigFileBytes));
  // 120 + 1 + 150 bytes: past ustar's 100-byte name and 255-byte prefix+name.
  const longDir = "l".repeat(120);
  await Deno.mkdir(p(longDir));
  await Deno.writeTextFile(p(`${longDir}/${"m".repeat(150)}`), "long name\n");
  await Deno.symlink(`/${"t".repeat(200)}/target`, p("long-target-link"));
  await Deno.symlink("usr/bin/a", p("owned-link"));
  await mustRun("mknod", [p("dev/null"), "c", "1", "3"]);
  await mustRun("mknod", [p("dev/loop9"), "b", "7", "9"]);
  await mustRun("mkfifo", [p("run/fifo")]);
  await mustRun("chown", ["-h", "1234:5678", p("owned-link")]);
  await mustRun("chown", ["0:5", p("usr/bin/wall")]);
  await mustRun("chown", ["-R", "1000:1000", p("home/user")]);
  await mustRun("chown", ["0:100", p("srv/shared")]);
  // Modes after chown (chown clears setuid).
  await Deno.chmod(p("usr/bin/passwd"), 0o4755);
  await Deno.chmod(p("usr/bin/wall"), 0o2755);
  await Deno.chmod(p("home/user"), 0o700);
  await Deno.chmod(p("home/user/.profile"), 0o600);
  await Deno.chmod(p("tmp"), 0o1777);
  await Deno.chmod(p("srv/shared"), 0o2775);
  await Deno.chmod(p("empty"), 0o400);
  // Distinct mtimes, children before their directory.
  const paths = (await mustRun("find", [src, "-depth", "-print0"])).split("\0").filter(Boolean);
  let second = 1_500_000_000;
  for (const path of paths) {
    const stamp = fractional ? `@${second}.${String(second % 1e9).padStart(9, "0")}` : `@${second}`;
    await mustRun("touch", ["-h", "-d", stamp, path]);
    second += 3607;
  }
}
