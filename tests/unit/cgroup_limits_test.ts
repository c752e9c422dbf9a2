import assert from "node:assert/strict";
import { IjrError } from "../../lib/errors/mod.ts";
import { MIN_MEMORY_BYTES, resolveBlockDevice, resolveJobLimits } from "../../lib/cgroup/mod.ts";
import {
  parseCpuShares,
  parseDeviceIopsSpec,
  parseMemoryLimit,
  parsePidsLimit,
  validateCpuShares,
  validateMemoryBytes,
  validatePids,
} from "../../lib/cgroup/limits.ts";
import { splitDeviceNumber } from "../../lib/cgroup/device.ts";

/** Asserts that `fn` throws INVALID_ARGUMENT with a message matching `message`. */
function assertInvalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
    assert.equal(error.code, "INVALID_ARGUMENT");
    assert.match(error.message, message);
    return true;
  });
}

async function assertInvalidAsync(fn: () => Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(fn, (error: unknown) => {
    assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
    assert.equal(error.code, "INVALID_ARGUMENT");
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("cgroup limits: memory sizes are 1024-based b/k/m/g", () => {
  assert.equal(parseMemoryLimit("4194304"), 4_194_304);
  assert.equal(parseMemoryLimit("4194304b"), 4_194_304);
  assert.equal(parseMemoryLimit("4096k"), 4_194_304);
  assert.equal(parseMemoryLimit("32m"), 33_554_432);
  assert.equal(parseMemoryLimit("32M"), 33_554_432);
  assert.equal(parseMemoryLimit("1g"), 1_073_741_824);
  assert.equal(parseMemoryLimit(" 2g "), 2_147_483_648);
  assert.equal(MIN_MEMORY_BYTES, 4 * 1024 * 1024);
});

Deno.test("cgroup limits: bad memory sizes name the problem", () => {
  assertInvalid(() => parseMemoryLimit(""), /memory limit: invalid size ""/);
  assertInvalid(() => parseMemoryLimit("lots"), /memory limit: invalid size "lots"/);
  assertInvalid(() => parseMemoryLimit("1.5g"), /invalid size "1.5g"/);
  assertInvalid(() => parseMemoryLimit("0"), /memory limit: size must be greater than zero/);
  assertInvalid(() => parseMemoryLimit("0m"), /greater than zero/);
  assertInvalid(() => parseMemoryLimit("-32m"), /memory limit must be positive, got "-32m"/);
  assertInvalid(() => parseMemoryLimit("32t"), /unknown unit "t" in "32t": use b, k, m or g/);
  assertInvalid(() => parseMemoryLimit("32mb"), /unknown unit "mb"/);
  assertInvalid(() => parseMemoryLimit("99999999999g"), /"99999999999g" is too large/);
  assertInvalid(
    () => parseMemoryLimit("100"),
    /memory limit 100 bytes is below the minimum of 4m \(4194304 bytes\)/,
  );
  assertInvalid(() => parseMemoryLimit("4095k"), /4193280 bytes is below the minimum of 4m/);
  assertInvalid(() => validateMemoryBytes(0n), /memory limit must be greater than zero, got 0/);
  assertInvalid(
    () => validateMemoryBytes(2n ** 63n),
    /memory limit 9223372036854775808 is too large/,
  );
  assertInvalid(() => validateMemoryBytes(4_194_304.5), /must be whole bytes/);
});

Deno.test("cgroup limits: CPU shares 2..262144", () => {
  assert.equal(parseCpuShares("2"), 2);
  assert.equal(parseCpuShares("1024"), 1024);
  assert.equal(parseCpuShares("262144"), 262_144);
  assert.equal(validateCpuShares(512n), 512);
  assertInvalid(() => parseCpuShares("1"), /CPU shares must be from 2 to 262144, got 1/);
  assertInvalid(() => parseCpuShares("0"), /CPU shares must be from 2 to 262144, got 0/);
  assertInvalid(() => parseCpuShares("262145"), /CPU shares must be from 2 to 262144, got 262145/);
  assertInvalid(() => parseCpuShares("-5"), /CPU shares must be positive, got "-5"/);
  assertInvalid(() => parseCpuShares("1k"), /CPU shares must be a whole number, got "1k"/);
  assertInvalid(() => parseCpuShares("99999999999999999999999"), /must be from 2 to 262144/);
  assertInvalid(() => validateCpuShares(1.5), /CPU shares must be an integer, got 1.5/);
});

Deno.test("cgroup limits: pids 2..4194304", () => {
  assert.equal(parsePidsLimit("64"), 64);
  assert.equal(parsePidsLimit("2"), 2);
  assert.equal(validatePids(4_194_304n), 4_194_304);
  assertInvalid(() => parsePidsLimit("0"), /pids limit must be from 2 to 4194304, got 0/);
  assertInvalid(() => parsePidsLimit("1"), /pids limit must be from 2 to 4194304, got 1/);
  assertInvalid(() => parsePidsLimit("-1"), /pids limit must be positive, got "-1"/);
  assertInvalid(() => parsePidsLimit("4194305"), /got 4194305/);
  assertInvalid(() => parsePidsLimit("many"), /pids limit must be a whole number, got "many"/);
});

Deno.test("cgroup limits: DEV:N specs", () => {
  assert.deepEqual(parseDeviceIopsSpec("/dev/vda:50"), { device: "/dev/vda", iops: 50 });
  // The count follows the last colon, so a path with colons still works.
  assert.deepEqual(parseDeviceIopsSpec("/dev/disk/by-path/pci-0000:00:04.0:100"), {
    device: "/dev/disk/by-path/pci-0000:00:04.0",
    iops: 100,
  });
  assert.deepEqual(parseDeviceIopsSpec("/dev/vda:4294967294"), {
    device: "/dev/vda",
    iops: 4_294_967_294,
  });
  assertInvalid(
    () => parseDeviceIopsSpec("/dev/vda"),
    /IOPS limit "\/dev\/vda" must be DEVICE:COUNT/,
  );
  assertInvalid(() => parseDeviceIopsSpec(":50"), /IOPS limit ":50" names no device/);
  assertInvalid(() => parseDeviceIopsSpec("/dev/vda:"), /IOPS limit "\/dev\/vda:" has no count/);
  assertInvalid(
    () => parseDeviceIopsSpec("vda:50"),
    /IOPS limit "vda:50": the device must be an absolute path, got "vda"/,
  );
  assertInvalid(
    () => parseDeviceIopsSpec("/dev/vda:0"),
    /IOPS limit "\/dev\/vda:0": IOPS limit must be greater than zero/,
  );
  assertInvalid(() => parseDeviceIopsSpec("/dev/vda:-5"), /IOPS limit must be positive, got "-5"/);
  assertInvalid(() => parseDeviceIopsSpec("/dev/vda:fast"), /must be a whole number, got "fast"/);
  assertInvalid(
    () => parseDeviceIopsSpec("/dev/vda:4294967295"),
    /IOPS limit must be from 1 to 4294967294, got 4294967295/,
  );
});

Deno.test("cgroup limits: device numbers split like glibc major()/minor()", () => {
  assert.deepEqual(splitDeviceNumber(0xfe00), { major: 254, minor: 0 });
  assert.deepEqual(splitDeviceNumber(0x0801), { major: 8, minor: 1 });
  // blkext partitions: major 259, minors above 255 use the high bits.
  assert.deepEqual(splitDeviceNumber(0x110300), { major: 259, minor: 256 });
  assert.deepEqual(splitDeviceNumber(0x1000_0000_0000 + 0x0105), { major: 1 + 0x1000, minor: 5 });
});

Deno.test("cgroup limits: device paths are checked on the real file system", async () => {
  await assertInvalidAsync(
    () => resolveBlockDevice("/dev/ijr-no-such-disk"),
    /^device \/dev\/ijr-no-such-disk does not exist$/,
  );
  await assertInvalidAsync(
    () => resolveBlockDevice("/dev/null"),
    /^device \/dev\/null is not a block device \(it is a character device\)$/,
  );
  await assertInvalidAsync(
    () => resolveBlockDevice("/dev"),
    /^device \/dev is not a block device \(it is a directory\)$/,
  );
  const file = await Deno.makeTempFile();
  try {
    await assertInvalidAsync(
      () => resolveBlockDevice(file),
      /is not a block device \(it is a regular file\)/,
    );
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("cgroup limits: defaults, devices resolved, duplicates refused", async () => {
  const disks: Record<string, { major: number; minor: number }> = {
    "/dev/sda": { major: 8, minor: 0 },
    "/dev/sda1": { major: 8, minor: 0 },
    "/dev/sdb": { major: 8, minor: 16 },
  };
  const resolveDevice = (path: string) => Promise.resolve(disks[path]);
  assert.deepEqual(await resolveJobLimits({}, { resolveDevice }), {
    cpuShares: 1024,
    memoryBytes: undefined,
    readIops: [],
    writeIops: [],
    pids: 1024,
  });
  assert.deepEqual(
    await resolveJobLimits({
      cpuShares: 512n,
      memoryBytes: 33_554_432n,
      readIops: [{ device: "/dev/sda1", iops: 50n }],
      writeIops: [{ device: "/dev/sda", iops: 20 }, { device: "/dev/sdb", iops: 30 }],
      pids: 64n,
    }, { resolveDevice, defaults: { cpuShares: 1024, pids: 500 } }),
    {
      cpuShares: 512,
      memoryBytes: 33_554_432,
      readIops: [{ device: "/dev/sda1", major: 8, minor: 0, iops: 50 }],
      writeIops: [
        { device: "/dev/sda", major: 8, minor: 0, iops: 20 },
        { device: "/dev/sdb", major: 8, minor: 16, iops: 30 },
      ],
      pids: 64,
    },
  );
  assert.equal(
    (await resolveJobLimits({}, { resolveDevice, defaults: { cpuShares: 2, pids: 500 } })).pids,
    500,
  );
  await assertInvalidAsync(
    () =>
      resolveJobLimits({
        readIops: [{ device: "/dev/sda", iops: 5 }, { device: "/dev/sda1", iops: 6 }],
      }, { resolveDevice }),
    /read IOPS limit given twice for disk 8:0 \(\/dev\/sda and \/dev\/sda1\)/,
  );
  await assertInvalidAsync(
    () => resolveJobLimits({ writeIops: [{ device: "/dev/sda", iops: 0n }] }, { resolveDevice }),
    /write IOPS limit for \/dev\/sda: IOPS limit must be greater than zero/,
  );
  await assertInvalidAsync(
    () => resolveJobLimits({ readIops: [{ device: "sda", iops: 1 }] }, { resolveDevice }),
    /read IOPS limit: the device must be an absolute path, got "sda"/,
  );
  await assertInvalidAsync(() => resolveJobLimits({ cpuShares: 0n }), /CPU shares must be from 2/);
  await assertInvalidAsync(() => resolveJobLimits({ pids: 0 }), /pids limit must be from 2/);
  await assertInvalidAsync(() => resolveJobLimits({ memoryBytes: 1024n }), /below the minimum/);
});
