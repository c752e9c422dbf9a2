/** The pure parts of the caps on all jobs: bounds, limit file values, the smallest limit. */
import assert from "node:assert/strict";
import {
  parseLimitValue,
  smallestMemoryLimit,
  validateAllJobsCaps,
} from "../../lib/cgroup/caps.ts";
import { IjrError } from "../../lib/errors/mod.ts";

function assertInvalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
    assert.equal(error.code, "INVALID_ARGUMENT");
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("cgroup caps: bounds are a job's (pids 2..4194304, memory from 4m)", () => {
  assert.deepEqual(validateAllJobsCaps({}), { pids: undefined, memoryBytes: undefined });
  assert.deepEqual(validateAllJobsCaps({ pids: 2, memoryBytes: 4 * 1024 * 1024 }), {
    pids: 2,
    memoryBytes: 4_194_304,
  });
  assert.deepEqual(validateAllJobsCaps({ pids: 4_194_304 }), {
    pids: 4_194_304,
    memoryBytes: undefined,
  });
  assertInvalid(
    () => validateAllJobsCaps({ pids: 1 }),
    /^pids cap on all jobs: pids limit must be from 2 to 4194304, got 1$/,
  );
  assertInvalid(
    () => validateAllJobsCaps({ pids: 4_194_305 }),
    /^pids cap on all jobs: pids limit must be from 2 to 4194304, got 4194305$/,
  );
  assertInvalid(
    () => validateAllJobsCaps({ pids: 1.5 }),
    /^pids cap on all jobs: pids limit must be an integer, got 1.5$/,
  );
  assertInvalid(
    () => validateAllJobsCaps({ memoryBytes: 4 * 1024 * 1024 - 1 }),
    /^memory cap on all jobs: memory limit 4194303 bytes is below the minimum of 4m/,
  );
});

Deno.test("cgroup caps: limit files read as numbers, 'max' and v1's maximum as none", () => {
  assert.equal(parseLimitValue("40\n"), 40);
  assert.equal(parseLimitValue("50331648\n"), 50_331_648);
  assert.equal(parseLimitValue("max\n"), undefined);
  // v1 memory.limit_in_bytes without a limit (PAGE_COUNTER_MAX pages of 4 KiB).
  assert.equal(parseLimitValue("9223372036854771712\n"), undefined);
  assert.equal(parseLimitValue(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  assert.equal(parseLimitValue(String(BigInt(Number.MAX_SAFE_INTEGER) + 1n)), undefined);
  assert.throws(() => parseLimitValue("-1\n"), /unexpected cgroup limit value "-1"/);
  assert.throws(() => parseLimitValue(""), /unexpected cgroup limit value ""/);
});

Deno.test("cgroup caps: the smallest limit on the path, or MemTotal", () => {
  const memTotal = 8 * 1024 ** 3;
  assert.deepEqual(smallestMemoryLimit([], memTotal), {
    bytes: memTotal,
    source: "/proc/meminfo",
  });
  assert.deepEqual(
    smallestMemoryLimit([
      { dir: "/cg/a/b/ijr", bytes: undefined },
      { dir: "/cg/a/b", bytes: 2 * 1024 ** 3 },
      { dir: "/cg/a", bytes: 1024 ** 3 },
      { dir: "/cg", bytes: undefined },
    ], memTotal),
    { bytes: 1024 ** 3, source: "/cg/a" },
  );
  // A limit above the host's memory holds nothing back: the host's memory is the answer.
  assert.deepEqual(
    smallestMemoryLimit([{ dir: "/cg/a", bytes: 16 * 1024 ** 3 }], memTotal),
    { bytes: memTotal, source: "/proc/meminfo" },
  );
  // The nearest of two equal limits is named (the job parent's own cap before an ancestor's).
  assert.deepEqual(
    smallestMemoryLimit([
      { dir: "/cg/a/ijr", bytes: 1024 ** 3 },
      { dir: "/cg/a", bytes: 1024 ** 3 },
    ], memTotal),
    { bytes: 1024 ** 3, source: "/cg/a/ijr" },
  );
});
