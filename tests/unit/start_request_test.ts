/**
 * The one validator of a job start (lib/job/start_request.ts): every field is checked against
 * its documented limit before anything is created, and each refusal names the field in the
 * API's terms with an exact message.
 */
import assert from "node:assert/strict";
import { IjrError } from "../../lib/errors/mod.ts";
import type { BlockDevice } from "../../lib/cgroup/device.ts";
import type { StartJobRequest } from "../../lib/job/types.ts";
import {
  MAX_ARG_STRING_BYTES,
  MAX_ARGV_ENTRIES,
  MAX_ARGV_ENV_BYTES,
  MAX_ENV_ENTRIES,
  MAX_GRACE_MS,
  MAX_IOPS_DEVICES,
  MAX_PATH_BYTES,
  MAX_TIMEOUT_MS,
  utf8Length,
  validateStartFields,
  validateStartRequest,
} from "../../lib/job/start_request.ts";

const BASE: StartJobRequest = { owner: "alice", rootfs: "busybox", argv: ["true"] };

/** Devices of a fake host: sda with partition sda1 (disk 8:0), and vdb (disk 253:16). */
function fakeDevices(path: string): Promise<BlockDevice> {
  const disks: Record<string, BlockDevice> = {
    "/dev/sda": { major: 8, minor: 0 },
    "/dev/sda1": { major: 8, minor: 0 },
    "/dev/vdb": { major: 253, minor: 16 },
  };
  const disk = disks[path];
  if (!disk) {
    return Promise.reject(new IjrError("INVALID_ARGUMENT", `device ${path} does not exist`));
  }
  return Promise.resolve(disk);
}

function refused(change: Partial<StartJobRequest>, message: string): void {
  assert.throws(() => validateStartFields({ ...BASE, ...change }), (error: unknown) => {
    assert.ok(error instanceof IjrError, String(error));
    assert.deepEqual([error.code, error.message], ["INVALID_ARGUMENT", message]);
    return true;
  });
}

async function refusedAfterResolving(
  change: Partial<StartJobRequest>,
  message: string,
): Promise<void> {
  await assert.rejects(
    validateStartRequest({ ...BASE, ...change }, { resolveDevice: fakeDevices }),
    (error: unknown) => {
      assert.ok(error instanceof IjrError, String(error));
      assert.deepEqual([error.code, error.message], ["INVALID_ARGUMENT", message]);
      return true;
    },
  );
}

Deno.test("start request: the documented limits", () => {
  assert.equal(MAX_ARGV_ENTRIES, 4096);
  assert.equal(MAX_ENV_ENTRIES, 4096);
  // Linux's MAX_ARG_STRLEN (32 pages) counts the terminating NUL.
  assert.equal(MAX_ARG_STRING_BYTES, 128 * 1024 - 1);
  assert.equal(MAX_ARGV_ENV_BYTES, 1024 * 1024);
  // PATH_MAX counts the terminating NUL.
  assert.equal(MAX_PATH_BYTES, 4095);
  assert.equal(MAX_TIMEOUT_MS, 30 * 24 * 60 * 60 * 1000);
  assert.equal(MAX_GRACE_MS, 60 * 60 * 1000);
  assert.equal(MAX_IOPS_DEVICES, 64);
});

Deno.test("start request: UTF-8 lengths as execve copies them", () => {
  assert.equal(utf8Length(""), 0);
  assert.equal(utf8Length("abc"), 3);
  assert.equal(utf8Length("é"), 2);
  assert.equal(utf8Length("€"), 3);
  assert.equal(utf8Length("😀"), 4);
  // A lone surrogate is encoded as U+FFFD, three bytes.
  assert.equal(utf8Length("\ud800"), 3);
  for (const text of ["héllo wörld €", "😀x\ud800y", "a".repeat(1000)]) {
    assert.equal(utf8Length(text), new TextEncoder().encode(text).length, text);
  }
});

Deno.test("start request: a request at every limit is accepted", async () => {
  // 4096 argv entries, seven of the longest string, and 4096 env entries whose last one
  // brings argv and env to exactly 1 MiB with their NULs.
  const argv = [
    ...Array(7).fill("x".repeat(MAX_ARG_STRING_BYTES)),
    ...Array(MAX_ARGV_ENTRIES - 7).fill("y"),
  ];
  const env = Array(MAX_ENV_ENTRIES - 1).fill("K=v");
  const used = [...argv, ...env].reduce((sum, s) => sum + utf8Length(s) + 1, 0);
  env.push(`K=${"v".repeat(MAX_ARGV_ENV_BYTES - used - 3)}`);
  const full: StartJobRequest = {
    owner: "alice",
    rootfs: "a".repeat(63),
    argv,
    env,
    workdir: `/${"w".repeat(MAX_PATH_BYTES - 1)}`,
    timeoutMs: MAX_TIMEOUT_MS,
    limits: {
      cpuShares: 262_144n,
      memoryBytes: BigInt(Number.MAX_SAFE_INTEGER),
      pids: 4_194_304n,
      readIops: [{ device: "/dev/sda1", iops: 4_294_967_294n }],
      writeIops: [{ device: "/dev/sda", iops: 1 }, { device: "/dev/vdb", iops: 7 }],
    },
  };
  const bytes = [...full.argv, ...full.env!].reduce((sum, s) => sum + utf8Length(s) + 1, 0);
  assert.equal(bytes, MAX_ARGV_ENV_BYTES);
  validateStartFields(full);
  const limits = await validateStartRequest(full, { resolveDevice: fakeDevices });
  assert.deepEqual(limits, {
    cpuShares: 262_144,
    memoryBytes: Number.MAX_SAFE_INTEGER,
    pids: 4_194_304,
    readIops: [{ device: "/dev/sda1", major: 8, minor: 0, iops: 4_294_967_294 }],
    writeIops: [
      { device: "/dev/sda", major: 8, minor: 0, iops: 1 },
      { device: "/dev/vdb", major: 253, minor: 16, iops: 7 },
    ],
  });
});

Deno.test("start request: defaults fill the limits a request leaves out", async () => {
  assert.deepEqual(
    await validateStartRequest(BASE, { defaults: { cpuShares: 1024, pids: 77 } }),
    { cpuShares: 1024, memoryBytes: undefined, pids: 77, readIops: [], writeIops: [] },
  );
  assert.deepEqual(
    await validateStartRequest({ ...BASE, timeoutMs: 1, workdir: "/", env: ["A="] }),
    { cpuShares: 1024, memoryBytes: undefined, pids: 1024, readIops: [], writeIops: [] },
  );
});

Deno.test("start request: rootfs names", () => {
  refused(
    { rootfs: "" },
    'invalid rootfs name "": it is empty (pattern [a-z0-9][a-z0-9._-]{0,62})',
  );
  refused(
    { rootfs: "../etc" },
    'invalid rootfs name "../etc": it must start with a lower-case letter or a digit ' +
      "(pattern [a-z0-9][a-z0-9._-]{0,62})",
  );
});

Deno.test("start request: argv", () => {
  refused({ argv: [] }, "argv must not be empty: argv[0] is the command");
  refused(
    { argv: Array(200_001).fill("x") },
    "argv has 200001 entries; at most 4096 are allowed",
  );
  refused({ argv: ["", "x"] }, 'argv[0] must name a command, got ""');
  refused({ argv: ["echo", "a\0b"] }, "argv[1] contains a NUL byte");
  refused(
    { argv: ["echo", "ok", "x".repeat(3_000_000)] },
    "argv[2] is 3000000 bytes long; at most 131071 are allowed",
  );
  // Bytes, not characters: 65536 two-byte characters are 131072 bytes.
  refused(
    { argv: ["echo", "é".repeat(65_536)] },
    "argv[1] is 131072 bytes long; at most 131071 are allowed",
  );
  refused(
    { argv: ["echo", 42 as unknown as string] },
    "argv[1] must be a string, got number",
  );
});

Deno.test("start request: env", () => {
  refused(
    { env: Array(4097).fill("A=1") },
    "env has 4097 entries; at most 4096 are allowed",
  );
  refused({ env: ["A=1", "B=2", "C=3", "NOEQUALS"] }, 'env[3] must be KEY=VALUE, got "NOEQUALS"');
  refused({ env: ["=value"] }, 'env[0] must be KEY=VALUE with a non-empty KEY, got "=value"');
  refused({ env: ["A=1\0B=2"] }, "env[0] contains a NUL byte");
  refused(
    { env: [`LONG=${"v".repeat(200_000)}`] },
    "env[0] is 200005 bytes long; at most 131071 are allowed",
  );
  // A long value is shown cut short, so an error never carries megabytes back.
  refused(
    { env: ["x".repeat(100_000)] },
    `env[0] must be KEY=VALUE, got "${"x".repeat(40)}..."`,
  );
});

Deno.test("start request: argv and env together at most 1 MiB", () => {
  // The attacker's 3 MB argv and 1.9 MB env, in strings each under the per-string limit.
  refused(
    { argv: ["echo", ...Array(30).fill("a".repeat(100_000))] },
    "argv and env are 3000035 bytes (each string with its NUL); at most 1048576 are allowed",
  );
  refused(
    { env: Array(19).fill(`X=${"b".repeat(99_998)}`) },
    "argv and env are 1900024 bytes (each string with its NUL); at most 1048576 are allowed",
  );
  // One string of the longest size too many: just over the total.
  refused(
    { argv: ["echo", ...Array(8).fill("z".repeat(MAX_ARG_STRING_BYTES))] },
    "argv and env are 1048581 bytes (each string with its NUL); at most 1048576 are allowed",
  );
});

Deno.test("start request: workdir", () => {
  refused({ workdir: "" }, 'workdir must be an absolute path, got ""');
  refused({ workdir: "etc" }, 'workdir must be an absolute path, got "etc"');
  refused({ workdir: "/a\0b" }, "workdir contains a NUL byte");
  refused(
    { workdir: `/${"w".repeat(4095)}` },
    "workdir is 4096 bytes long; at most 4095 are allowed",
  );
});

Deno.test("start request: timeout", () => {
  refused({ timeoutMs: 0 }, "timeout must be from 1 to 2592000000 ms (30 days), got 0");
  refused({ timeoutMs: -5 }, "timeout must be from 1 to 2592000000 ms (30 days), got -5");
  refused(
    { timeoutMs: MAX_TIMEOUT_MS + 1 },
    "timeout must be from 1 to 2592000000 ms (30 days), got 2592000001",
  );
  refused(
    { timeoutMs: 9.223372036854776e21 },
    "timeout must be from 1 to 2592000000 ms (30 days), got 9.223372036854776e+21",
  );
  refused({ timeoutMs: 1.5 }, "timeout must be a whole number of milliseconds, got 1.5");
  refused({ timeoutMs: Number.NaN }, "timeout must be a whole number of milliseconds, got NaN");
});

Deno.test("start request: limits in range, bigints compared exactly", () => {
  refused({ limits: { cpuShares: 1 } }, "limits.cpu_shares must be from 2 to 262144, got 1");
  refused(
    { limits: { cpuShares: 2n ** 64n - 1n } },
    "limits.cpu_shares must be from 2 to 262144, got 18446744073709551615",
  );
  refused(
    { limits: { cpuShares: 1.5 } },
    "limits.cpu_shares must be a whole number, got 1.5",
  );
  refused(
    { limits: { memoryBytes: 100 } },
    "limits.memory_bytes must be from 4194304 (4m) to 9007199254740991, got 100",
  );
  // One past the largest safe integer would round to a neighbour as a number: refused.
  refused(
    { limits: { memoryBytes: 2n ** 53n + 1n } },
    "limits.memory_bytes must be from 4194304 (4m) to 9007199254740991, got 9007199254740993",
  );
  refused({ limits: { pids: 1n } }, "limits.pids must be from 2 to 4194304, got 1");
  refused(
    { limits: { pids: 4_194_305 } },
    "limits.pids must be from 2 to 4194304, got 4194305",
  );
});

Deno.test("start request: IOPS entries", async () => {
  refused(
    { limits: { readIops: Array(65).fill({ device: "/dev/sda", iops: 1 }) } },
    "limits.read_iops has 65 entries; at most 64 are allowed",
  );
  refused(
    { limits: { writeIops: [{ device: "", iops: 1 }] } },
    'limits.write_iops[0].device must be an absolute path, got ""',
  );
  refused(
    { limits: { writeIops: [{ device: "/dev/vdb", iops: 1 }, { device: "sda", iops: 1 }] } },
    'limits.write_iops[1].device must be an absolute path, got "sda"',
  );
  refused(
    { limits: { readIops: [{ device: "/dev/sd\0a", iops: 1 }] } },
    "limits.read_iops[0].device contains a NUL byte",
  );
  refused(
    { limits: { readIops: [{ device: `/${"d".repeat(4095)}`, iops: 1 }] } },
    "limits.read_iops[0].device is 4096 bytes long; at most 4095 are allowed",
  );
  refused(
    { limits: { readIops: [{ device: "/dev/sda", iops: 0n }] } },
    "limits.read_iops[0].iops must be from 1 to 4294967294, got 0",
  );
  refused(
    { limits: { writeIops: [{ device: "/dev/sda", iops: 2n ** 32n - 1n }] } },
    "limits.write_iops[0].iops must be from 1 to 4294967294, got 4294967295",
  );
  // What needs the host's devices is checked by validateStartRequest, still before anything
  // is created.
  await refusedAfterResolving(
    { limits: { readIops: [{ device: "/dev/vdb", iops: 1 }, { device: "/dev/nope", iops: 1 }] } },
    "limits.read_iops[1].device: device /dev/nope does not exist",
  );
  await refusedAfterResolving(
    { limits: { writeIops: [{ device: "/dev/sda", iops: 1 }, { device: "/dev/sda1", iops: 2 }] } },
    "limits.write_iops[1].device /dev/sda1 is on disk 8:0, which limits.write_iops[0].device " +
      "(/dev/sda) already limits",
  );
  await refusedAfterResolving(
    { limits: { readIops: [{ device: "/dev/vdb", iops: 1 }, { device: "/dev/vdb", iops: 2 }] } },
    "limits.read_iops[1].device /dev/vdb is on disk 253:16, which limits.read_iops[0].device " +
      "(/dev/vdb) already limits",
  );
  // The same disk in both directions is two limits, not a repeat.
  const limits = await validateStartRequest(
    {
      ...BASE,
      limits: {
        readIops: [{ device: "/dev/sda", iops: 5 }],
        writeIops: [{ device: "/dev/sda1", iops: 6 }],
      },
    },
    { resolveDevice: fakeDevices },
  );
  assert.deepEqual(limits.readIops, [{ device: "/dev/sda", major: 8, minor: 0, iops: 5 }]);
  assert.deepEqual(limits.writeIops, [{ device: "/dev/sda1", major: 8, minor: 0, iops: 6 }]);
});

Deno.test("start request: fields are checked before devices are resolved", async () => {
  let resolved = 0;
  await assert.rejects(
    validateStartRequest(
      { ...BASE, limits: { readIops: [{ device: "/dev/sda", iops: 1 }] }, timeoutMs: 0 },
      {
        resolveDevice: (path) => {
          resolved++;
          return fakeDevices(path);
        },
      },
    ),
    /^IjrError: timeout must be from 1 to 2592000000 ms \(30 days\), got 0$/,
  );
  assert.equal(resolved, 0);
});
