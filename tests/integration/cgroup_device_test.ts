import assert from "node:assert/strict";
import { rootTest } from "../helpers/root.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import { resolveBlockDevice, resolveJobLimits } from "../../lib/cgroup/mod.ts";

const decoder = new TextDecoder();

async function run(command: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${command} ${args.join(" ")}: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout).trim();
}

async function deviceNumber(name: string): Promise<string> {
  return (await Deno.readTextFile(`/sys/class/block/${name}/dev`)).trim();
}

rootTest(
  "cgroup device: a partition resolves to its whole disk, through symlinks too",
  async () => {
    const image = await Deno.makeTempFile({ prefix: "ijr-parts-", suffix: ".img" });
    await Deno.truncate(image, 16 * 1024 * 1024);
    const linkDir = await Deno.makeTempDir({ prefix: "ijr-devlink-" });
    let loop: string | undefined;
    try {
      loop = await run("losetup", ["--find", "--show", "--partscan", image]);
      // This kernel parses no partition tables, so the partition is declared with BLKPG
      // (addpart): the same kernel partition device a table would give.
      await run("addpart", [loop, "1", "2048", "30720"]);
      const partition = `${loop}p1`;
      assert.ok((await Deno.stat(partition)).isBlockDevice);
      const [major, minor] = (await deviceNumber(loop.slice(5))).split(":").map(Number);
      assert.equal(major, 7, "loop devices have major 7");
      assert.notEqual(await deviceNumber(partition.slice(5)), `${major}:${minor}`);
      assert.deepEqual(await resolveBlockDevice(loop), { major, minor });
      assert.deepEqual(await resolveBlockDevice(partition), { major, minor });
      const link = `${linkDir}/disk`;
      await Deno.symlink(partition, link);
      const limits = await resolveJobLimits({ writeIops: [{ device: link, iops: 7 }] });
      assert.deepEqual(limits.writeIops, [{ device: link, major, minor, iops: 7 }]);
      await assert.rejects(
        resolveJobLimits({ readIops: [{ device: loop, iops: 1 }, { device: partition, iops: 2 }] }),
        (error) => {
          assert.ok(error instanceof IjrError);
          assert.equal(error.code, "INVALID_ARGUMENT");
          assert.equal(
            error.message,
            `read IOPS limit given twice for disk ${major}:${minor} (${loop} and ${partition})`,
          );
          return true;
        },
      );
    } finally {
      await Deno.remove(linkDir, { recursive: true });
      if (loop) {
        await run("delpart", [loop, "1"]).catch(() => "");
        await run("losetup", ["-d", loop]);
      }
      await Deno.remove(image);
    }
  },
);
