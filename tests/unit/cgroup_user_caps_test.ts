/** perUserCaps: the worker's caps × maxJobsPerUser / maxJobs, floored, within the bounds. */
import assert from "node:assert/strict";
import { MIN_USER_MEMORY_BYTES, MIN_USER_PIDS, perUserCaps } from "../../lib/cgroup/user_caps.ts";
import { IjrError } from "../../lib/errors/mod.ts";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

function assertInvalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
    assert.equal(error.code, "INVALID_ARGUMENT");
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("cgroup user caps: the defaults (256 of 1024 jobs) give each user a quarter", () => {
  const counts = { maxJobs: 1024, maxJobsPerUser: 256 };
  assert.deepEqual(perUserCaps({ pids: 2_097_152, memoryBytes: 7 * GIB }, counts), {
    pids: 524_288,
    memoryBytes: 1_879_048_192,
  });
  // Floored: 1001 / 4 = 250.25 tasks; (1 GiB + 3 bytes) / 4 to whole 4 KiB pages.
  assert.deepEqual(perUserCaps({ pids: 1001, memoryBytes: GIB + 3 }, counts), {
    pids: 250,
    memoryBytes: 268_435_456,
  });
  // 10 GiB / 3 = 3579139413.33 bytes, down to a page: 3579138048.
  assert.deepEqual(
    perUserCaps({ pids: 100, memoryBytes: 10 * GIB }, { maxJobs: 3, maxJobsPerUser: 1 }),
    { pids: 33, memoryBytes: 3_579_138_048 },
  );
});

Deno.test("cgroup user caps: at least 16 tasks and 64 MiB, never above the worker's", () => {
  assert.equal(MIN_USER_PIDS, 16);
  assert.equal(MIN_USER_MEMORY_BYTES, 64 * MIB);
  // 60 / 1024 and 128 MiB / 1024 are far below the minimums.
  assert.deepEqual(
    perUserCaps({ pids: 60, memoryBytes: 128 * MIB }, { maxJobs: 1024, maxJobsPerUser: 1 }),
    { pids: 16, memoryBytes: 64 * MIB },
  );
  // A worker below a minimum: the user gets the whole worker, not more.
  assert.deepEqual(
    perUserCaps({ pids: 10, memoryBytes: 48 * MIB + 5 }, { maxJobs: 4, maxJobsPerUser: 1 }),
    { pids: 10, memoryBytes: 48 * MIB },
  );
  // One user may run every job: the user's caps are the worker's, memory in whole pages.
  assert.deepEqual(
    perUserCaps({ pids: 4_194_304, memoryBytes: GIB + 3 }, { maxJobs: 8, maxJobsPerUser: 8 }),
    { pids: 4_194_304, memoryBytes: GIB },
  );
  // More per user than in all (preflight refuses it; the share is still at most the whole).
  assert.deepEqual(
    perUserCaps({ pids: 100, memoryBytes: GIB }, { maxJobs: 2, maxJobsPerUser: 5 }),
    { pids: 100, memoryBytes: GIB },
  );
});

Deno.test("cgroup user caps: no worker cap, no user cap; the largest cap", () => {
  const counts = { maxJobs: 1024, maxJobsPerUser: 256 };
  assert.deepEqual(perUserCaps({}, counts), { pids: undefined, memoryBytes: undefined });
  assert.deepEqual(perUserCaps({ pids: 1000 }, counts), { pids: 250, memoryBytes: undefined });
  // The largest memory cap: floor((2^53 - 1) / 3) = 3002399751580330, down to a page.
  assert.deepEqual(
    perUserCaps({ memoryBytes: Number.MAX_SAFE_INTEGER }, { maxJobs: 3, maxJobsPerUser: 1 }),
    { pids: undefined, memoryBytes: 3_002_399_751_577_600 },
  );
});

Deno.test("cgroup user caps: bad counts and worker caps are refused", () => {
  const caps = { pids: 100 };
  assertInvalid(
    () => perUserCaps(caps, { maxJobs: 0, maxJobsPerUser: 1 }),
    /^maxJobs must be a whole number of at least 1, got 0$/,
  );
  assertInvalid(
    () => perUserCaps(caps, { maxJobs: 4, maxJobsPerUser: 1.5 }),
    /^maxJobsPerUser must be a whole number of at least 1, got 1.5$/,
  );
  assertInvalid(
    () => perUserCaps(caps, { maxJobs: Number.NaN, maxJobsPerUser: 1 }),
    /^maxJobs must be a whole number of at least 1, got NaN$/,
  );
  assertInvalid(
    () => perUserCaps({ pids: 1 }, { maxJobs: 4, maxJobsPerUser: 1 }),
    /^pids cap on all jobs: pids limit must be from 2 to 4194304, got 1$/,
  );
  assertInvalid(
    () => perUserCaps({ memoryBytes: 0.5 }, { maxJobs: 4, maxJobsPerUser: 1 }),
    /^memory cap on all jobs: memory limit must be whole bytes, got 0.5$/,
  );
});
