/**
 * A full rootfs disk (a small tmpfs here): an upload fails with RESOURCE_EXHAUSTED naming
 * the disk, leaves nothing behind, and the next upload works once there is room.
 */
import assert from "node:assert/strict";
import { RootfsStore } from "../../lib/rootfs/mod.ts";
import { busyboxTarball } from "../helpers/busybox.ts";
import { rootTest } from "../helpers/root.ts";

async function run(command: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(command, { args, stderr: "piped" }).output();
  if (!out.success) throw new Error(`${command}: ${new TextDecoder().decode(out.stderr)}`);
}

async function* chunksOf(path: string): AsyncGenerator<Uint8Array> {
  const file = await Deno.open(path);
  for await (const chunk of file.readable) yield chunk;
}

rootTest(
  "full rootfs disk: an upload is RESOURCE_EXHAUSTED naming the disk and leaves nothing",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ijr-jobs-" });
    // Smaller than the busybox tree (about 2.6 MB), larger than its tarball.
    await run("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "ijr-test-full-rootfs", dir]);
    try {
      const tarball = await busyboxTarball();
      const store = await RootfsStore.open({ dir, durable: false });
      await assert.rejects(store.upload(chunksOf(tarball), { name: "bb" }), {
        code: "RESOURCE_EXHAUSTED",
        message: `the rootfs disk (${dir}) is full: cannot store rootfs "bb": ` +
          "no space left on device",
      });
      assert.deepEqual(store.list(), []);
      assert.deepEqual([...Deno.readDirSync(dir)], []);
      // Room again: the same upload works.
      await run("mount", ["-o", "remount,size=16m", dir]);
      const result = await store.upload(chunksOf(tarball), { name: "bb" });
      assert.equal(result.rootfs.name, "bb");
    } finally {
      await run("umount", [dir]);
      await Deno.remove(dir, { recursive: true });
    }
  },
);
