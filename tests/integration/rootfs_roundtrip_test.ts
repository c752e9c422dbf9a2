/**
 * Round trips: tarballs made by GNU tar from real trees are uploaded, and the extracted tree
 * must be exactly what GNU tar itself extracts and exactly the tree that was archived:
 * modes with setuid/setgid/sticky, owners, mtimes, symlink targets, hard link identity.
 * Device nodes and FIFOs are skipped and counted.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RootfsStore } from "../../lib/rootfs/mod.ts";
import { busyboxTarball } from "../helpers/busybox.ts";
import { rootTest } from "../helpers/root.ts";
import { mustRun, treeListing } from "../helpers/rootfs_tree.ts";
import { fileChunks } from "../helpers/tar_writer.ts";

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "ijr-rootfs-rt-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** What GNU tar extracts from the tarball (as root: owners and modes preserved). */
async function gnuTarExtract(tarball: string, into: string): Promise<void> {
  await Deno.mkdir(into);
  await mustRun("tar", ["--numeric-owner", "-C", into, "-xzf", tarball]);
}

rootTest("busybox rootfs round-trips exactly as GNU tar extracts it", async () => {
  const tarball = await busyboxTarball();
  await withTempDir(async (dir) => {
    const store = await RootfsStore.open({ dir: join(dir, "store") });
    const result = await store.upload(fileChunks(tarball), { name: "busybox" });
    await gnuTarExtract(tarball, join(dir, "reference"));
    const expected = await treeListing(join(dir, "reference"));
    const actual = await treeListing(store.treePath("busybox"));
    assert.deepEqual(actual, expected);
    // Applet links are absolute symlinks, kept verbatim.
    assert.equal(await Deno.readLink(join(store.treePath("busybox"), "bin", "sh")), "/bin/busybox");
    assert.equal(result.rootfs.entries, expected.length);
    assert.equal(result.compressedBytes, (await Deno.stat(tarball)).size);
    assert.equal(result.skippedSpecialFiles, 0);
    const fileBytes = expected.filter((line) => / f /.test(line)).reduce(
      (total, line) => total + Number(line.split(" ").at(-3)),
      0,
    );
    assert.equal(result.rootfs.sizeBytes, fileBytes);
  });
});

/**
 * A tree with everything a rootfs can hold: absolute and relative symlinks, dangling ones,
 * hard links (also to a setuid file), setuid/setgid/sticky modes, foreign owners (also on a
 * symlink), names and link targets beyond ustar's 100/255 bytes, empty and large files,
 * device nodes and a FIFO. Every entry gets its own mtime, fractional when `fractional`.
 */
async function makeSpecialTree(src: string, fractional: boolean): Promise<void> {
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
  await Deno.writeFile(p("usr/bin/passwd"), crypto.getRandomValues(new Uint8Array(4096)));
  await Deno.writeTextFile(p("usr/bin/wall"), "wall\n");
  await Deno.writeTextFile(p("usr/bin/a"), "shared inode\n");
  await Deno.link(p("usr/bin/a"), p("usr/bin/b"));
  await Deno.link(p("usr/bin/passwd"), p("usr/sbin/passwd-link"));
  await Deno.writeTextFile(p("home/user/.profile"), "export PS1='$ '\n");
  await Deno.writeFile(p("empty"), new Uint8Array(0));
  const big = new Uint8Array(3 * 1024 * 1024 + 77);
  for (let at = 0; at < big.length; at += 65536) {
    big.set(crypto.getRandomValues(new Uint8Array(Math.min(65536, big.length - at))), at);
  }
  await Deno.writeFile(p("usr/lib/big.bin"), big);
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

for (const format of ["posix", "gnu"] as const) {
  rootTest(
    `special rootfs (tar --format=${format}) round-trips; devices skipped and counted`,
    async () => {
      await withTempDir(async (dir) => {
        const src = join(dir, "src");
        await Deno.mkdir(src);
        await makeSpecialTree(src, format === "posix");
        const tarball = join(dir, "special.tar.gz");
        await mustRun("tar", [
          `--format=${format}`,
          "--numeric-owner",
          "-C",
          src,
          "-czf",
          tarball,
          ".",
        ]);
        const store = await RootfsStore.open({ dir: join(dir, "store") });
        const result = await store.upload(fileChunks(tarball), { name: `special-${format}` });
        const tree = store.treePath(`special-${format}`);

        const actual = await treeListing(tree);
        await gnuTarExtract(tarball, join(dir, "reference"));
        assert.deepEqual(
          actual,
          await treeListing(join(dir, "reference"), { withoutSpecial: true }),
        );
        assert.deepEqual(actual, await treeListing(src, { withoutSpecial: true }));

        // The same facts spelled out, so a regression names itself.
        const stat = (path: string) => Deno.lstatSync(join(tree, path));
        assert.equal(stat("usr/bin/passwd").mode! & 0o7777, 0o4755);
        assert.equal(stat("usr/bin/wall").mode! & 0o7777, 0o2755);
        assert.equal(stat("usr/bin/wall").gid, 5);
        assert.equal(stat("tmp").mode! & 0o7777, 0o1777);
        assert.equal(stat("srv/shared").mode! & 0o7777, 0o2775);
        assert.equal(stat("home/user").uid, 1000);
        assert.equal(stat("owned-link").uid, 1234);
        assert.equal(stat("owned-link").gid, 5678);
        assert.equal(stat("usr/bin/a").ino, stat("usr/bin/b").ino);
        assert.equal(stat("usr/bin/passwd").ino, stat("usr/sbin/passwd-link").ino);
        assert.equal(stat("usr/bin/a").nlink, 2);
        assert.equal(Deno.readLinkSync(join(tree, "bin/sh")), "/bin/busybox");
        assert.equal(Deno.readLinkSync(join(tree, "dangling")), "/nonexistent/target");
        assert.equal(
          Deno.readLinkSync(join(tree, "long-target-link")),
          `/${"t".repeat(200)}/target`,
        );
        assert.deepEqual([...Deno.readDirSync(join(tree, "dev"))], []);
        assert.deepEqual([...Deno.readDirSync(join(tree, "run"))], []);
        assert.equal(result.skippedSpecialFiles, 3);
        assert.equal(result.rootfs.entries, actual.length);
        // Regular file bytes, the hard links counted once each (they are members too, but
        // carry no data).
        const sizes = [12, 4096, 5, 13, 16, 0, 3 * 1024 * 1024 + 77, 10];
        assert.equal(result.rootfs.sizeBytes, sizes.reduce((a, b) => a + b));
      });
    },
  );
}
