import assert from "node:assert/strict";
import { resolveUserCaps, resolveWorkerCaps } from "../../lib/daemon/worker_caps.ts";
import { PreflightError } from "../../lib/daemon/preflight.ts";

const GIB = 1024 ** 3;
const host = { tasks: { pidMax: 4_194_304, threadsMax: 96_000 }, memoryBytes: 24 * GIB };

Deno.test("worker caps: auto leaves the host half its tasks and a tenth (at least 1 GiB) of memory", () => {
  assert.deepEqual(resolveWorkerCaps({ maxPids: "auto", maxMemory: "auto" }, host), {
    pids: 48_000,
    memoryBytes: 24 * GIB - Math.floor(24 * GIB / 10),
  });
  // A small host keeps 1 GiB; a tiny one still gets the smallest cap.
  const small = { tasks: { pidMax: 32_768, threadsMax: 200_000 }, memoryBytes: 4 * GIB };
  assert.deepEqual(resolveWorkerCaps({ maxPids: "auto", maxMemory: "auto" }, small), {
    pids: 16_384,
    memoryBytes: 3 * GIB,
  });
  const tiny = { tasks: { pidMax: 32_768, threadsMax: 200_000 }, memoryBytes: GIB };
  assert.equal(
    resolveWorkerCaps({ maxPids: "auto", maxMemory: "auto" }, tiny).memoryBytes,
    64 * 1024 ** 2,
  );
});

Deno.test("worker caps: numbers as given, and bad ones named", () => {
  assert.deepEqual(resolveWorkerCaps({ maxPids: "5000", maxMemory: "8g" }, host), {
    pids: 5000,
    memoryBytes: 8 * GIB,
  });
  const refused = (flags: { maxPids: string; maxMemory: string }, message: string) =>
    assert.throws(() => resolveWorkerCaps(flags, host), (error: unknown) => {
      assert.ok(error instanceof PreflightError);
      assert.equal(error.message, message);
      return true;
    });
  refused(
    { maxPids: "lots", maxMemory: "auto" },
    `--max-pids must be a positive integer or "auto", got "lots"`,
  );
  refused({ maxPids: "8", maxMemory: "auto" }, "--max-pids must be at least 16, got 8");
  refused({ maxPids: "auto", maxMemory: "10m" }, "--max-memory must be at least 64m, got 10m");
  refused(
    { maxPids: "auto", maxMemory: "2x" },
    `--max-memory: unknown unit "x" in "2x": use b, k, m or g (or "auto")`,
  );
});

const worker = { pids: 48_000, memoryBytes: 20 * GIB };
const counts = { maxJobs: 1024, maxJobsPerUser: 256 };

Deno.test("user caps: auto is the worker's share of --max-jobs-per-user / --max-jobs", () => {
  assert.deepEqual(
    resolveUserCaps({ maxPidsPerUser: "auto", maxMemoryPerUser: "auto" }, worker, counts),
    { pids: 12_000, memoryBytes: 5 * GIB },
  );
  // One user per worker slot set: the share is the whole worker.
  assert.deepEqual(
    resolveUserCaps({ maxPidsPerUser: "auto", maxMemoryPerUser: "auto" }, worker, {
      maxJobs: 8,
      maxJobsPerUser: 8,
    }),
    worker,
  );
});

Deno.test("user caps: numbers as given, at most the worker's caps, and bad ones named", () => {
  assert.deepEqual(
    resolveUserCaps({ maxPidsPerUser: "300", maxMemoryPerUser: "1g" }, worker, counts),
    { pids: 300, memoryBytes: GIB },
  );
  const refused = (
    flags: { maxPidsPerUser: string; maxMemoryPerUser: string },
    message: string,
  ) =>
    assert.throws(() => resolveUserCaps(flags, worker, counts), (error: unknown) => {
      assert.ok(error instanceof PreflightError);
      assert.equal(error.message, message);
      return true;
    });
  refused(
    { maxPidsPerUser: "many", maxMemoryPerUser: "auto" },
    `--max-pids-per-user must be a positive integer or "auto", got "many"`,
  );
  refused(
    { maxPidsPerUser: "10", maxMemoryPerUser: "auto" },
    "--max-pids-per-user must be at least 16, got 10",
  );
  refused(
    { maxPidsPerUser: "48001", maxMemoryPerUser: "auto" },
    "--max-pids-per-user 48001 is above --max-pids 48000",
  );
  refused(
    { maxPidsPerUser: "auto", maxMemoryPerUser: "1m" },
    "--max-memory-per-user must be at least 64m, got 1m",
  );
  refused(
    { maxPidsPerUser: "auto", maxMemoryPerUser: "21g" },
    "--max-memory-per-user 21g is above --max-memory (21474836480 bytes)",
  );
});
