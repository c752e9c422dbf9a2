/**
 * io.max on the real kernel and a real (virtio) disk: the exact line the kernel keeps, and a
 * direct-I/O loop that runs at the limit instead of at the disk's speed.
 */
import { ok, strictEqual } from "node:assert/strict";
import {
  destroyCgroup,
  directIo,
  errnoOf,
  makeCgroup,
  readText,
  testDiskNumbers,
  v2Test,
  writeValue,
} from "./guest.ts";

const READ_IOPS = 50;
const WRITE_IOPS = 40;

v2Test("io.max: riops and wiops on the virtio disk read back as the kernel's line", async () => {
  const disk = await testDiskNumbers();
  const dir = await makeCgroup("io-line");
  try {
    strictEqual(await readText(`${dir}/io.max`), "");
    await writeValue(`${dir}/io.max`, `${disk} riops=${READ_IOPS} wiops=${WRITE_IOPS}`);
    strictEqual(
      await readText(`${dir}/io.max`),
      `${disk} rbps=max wbps=max riops=${READ_IOPS} wiops=${WRITE_IOPS}`,
    );
    // A malformed line is refused, not half-applied.
    strictEqual(await errnoOf(writeValue(`${dir}/io.max`, `${disk} riops:7`)), "EINVAL");
    strictEqual(
      await readText(`${dir}/io.max`),
      `${disk} rbps=max wbps=max riops=${READ_IOPS} wiops=${WRITE_IOPS}`,
    );
  } finally {
    await destroyCgroup(dir);
  }
});

v2Test(
  "io.max: direct reads and writes run at riops/wiops, far below the disk's speed",
  async () => {
    const disk = await testDiskNumbers();
    const free = await makeCgroup("io-free");
    const limited = await makeCgroup("io-limited");
    try {
      const baseline = await directIo(free, { op: "read", count: 400 });
      strictEqual(baseline.success, true, baseline.stderr);
      // Only meaningful when the disk is much faster than the limit.
      ok(
        baseline.iops > 4 * READ_IOPS,
        `unthrottled disk reads only ${baseline.iops.toFixed(0)}/s`,
      );

      await writeValue(`${limited}/io.max`, `${disk} riops=${READ_IOPS} wiops=${WRITE_IOPS}`);
      const read = await directIo(limited, { op: "read", count: 2 * READ_IOPS });
      strictEqual(read.success, true, read.stderr);
      ok(
        read.iops > 0.6 * READ_IOPS && read.iops < 1.25 * READ_IOPS,
        `throttled reads ran at ${read.iops.toFixed(1)}/s, limit ${READ_IOPS}/s`,
      );
      const write = await directIo(limited, { op: "write", count: 2 * WRITE_IOPS });
      strictEqual(write.success, true, write.stderr);
      ok(
        write.iops > 0.6 * WRITE_IOPS && write.iops < 1.25 * WRITE_IOPS,
        `throttled writes ran at ${write.iops.toFixed(1)}/s, limit ${WRITE_IOPS}/s`,
      );
    } finally {
      await destroyCgroup(free);
      await destroyCgroup(limited);
    }
  },
);
