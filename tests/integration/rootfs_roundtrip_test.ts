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
import { makeSpecialTree } from "../helpers/special_tree.ts";
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

for (const format of ["posix", "gnu"] as const) {
  rootTest(
    `special rootfs (tar --format=${format}) round-trips; devices skipped and counted`,
    async () => {
      await withTempDir(async (dir) => {
        const src = join(dir, "src");
        await Deno.mkdir(src);
        await makeSpecialTree(src, { fractional: format === "posix" });
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
