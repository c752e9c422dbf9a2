import assert from "node:assert/strict";
import { resolveWorkerCaps } from "../../lib/daemon/worker_caps.ts";
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
