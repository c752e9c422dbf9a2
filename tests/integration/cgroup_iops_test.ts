import assert from "node:assert/strict";
import { rootTest } from "../helpers/root.ts";
import { type JobCgroup, resolveJobLimits } from "../../lib/cgroup/mod.ts";
import { rootDisk, spawnInto, withTestController } from "../helpers/cgroup_support.ts";

const decoder = new TextDecoder();

/**
 * A block device to read: the root disk when it may be opened, else (this sandbox refuses
 * raw disk access with EPERM) a loop device over a temporary file, which the block layer
 * throttles like any disk. Returns the device and its cleanup.
 */
async function readableDisk(): Promise<{ disk: string; release: () => Promise<void> }> {
  const disk = await rootDisk();
  try {
    (await Deno.open(disk, { read: true })).close();
    return { disk, release: () => Promise.resolve() };
  } catch (error) {
    if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
  }
  const image = await Deno.makeTempFile({ prefix: "ijr-iops-", suffix: ".img" });
  await Deno.truncate(image, 64 * 1024 * 1024);
  const out = await new Deno.Command("losetup", {
    args: ["--find", "--show", image],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    await Deno.remove(image);
    throw new Error(`losetup: ${decoder.decode(out.stderr)}`);
  }
  const loop = decoder.decode(out.stdout).trim();
  console.log(`${disk} cannot be opened here (EPERM); reading loop device ${loop} instead`);
  return {
    disk: loop,
    release: async () => {
      const detach = await new Deno.Command("losetup", { args: ["-d", loop] }).output();
      await Deno.remove(image);
      assert.ok(detach.success, `losetup -d ${loop} failed`);
    },
  };
}

/**
 * Reads `count` 4 KiB blocks of `disk` with O_DIRECT (no page cache, one request each) from a
 * random offset, inside the job, and returns the rate GNU dd measured itself.
 */
async function directReadIops(job: JobCgroup, disk: string, count: number): Promise<number> {
  const name = disk.slice("/dev/".length);
  const sectors = Number((await Deno.readTextFile(`/sys/class/block/${name}/size`)).trim());
  const skip = Math.floor(Math.random() * (sectors / 8 - count));
  const out = await spawnInto(job, [
    "dd",
    `if=${disk}`,
    "of=/dev/null",
    "bs=4k",
    "iflag=direct",
    `count=${count}`,
    `skip=${skip}`,
  ], { stderr: "piped" }).output();
  const report = decoder.decode(out.stderr);
  assert.equal(out.code, 0, report);
  assert.match(report, new RegExp(`^${count}\\+0 records in$`, "m"));
  const seconds = Number(report.match(/copied, ([\d.]+) s,/)![1]);
  return count / seconds;
}

async function throttleTest(disk: string): Promise<void> {
  await withTestController(async (controller) => {
    const limited = await controller.create(
      "iops-50",
      await resolveJobLimits({ readIops: [{ device: disk, iops: 50 }] }),
    );
    const free = await controller.create("iops-free", await resolveJobLimits({}));
    try {
      // 150 reads at 50 IOPS take about 3 s.
      const throttled = await directReadIops(limited, disk, 150);
      const unthrottled = await directReadIops(free, disk, 1500);
      console.log(
        `read IOPS of ${disk}: limited to 50 -> ${throttled.toFixed(1)}, ` +
          `unlimited -> ${unthrottled.toFixed(0)}`,
      );
      assert.ok(
        Math.abs(throttled - 50) <= 50 * 0.3,
        `limited rate ${throttled} is not within 30% of 50`,
      );
      assert.ok(unthrottled > 50 * 5, `unlimited rate ${unthrottled} is not far above 50`);
    } finally {
      await limited.remove();
      await free.remove();
    }
  });
}

rootTest(
  "cgroup v1: DEV:50 holds direct-I/O reads near 50 IOPS; unlimited is far faster",
  async () => {
    const { disk, release } = await readableDisk();
    try {
      await throttleTest(disk);
    } finally {
      await release();
    }
  },
);
