/**
 * Request fields in the API's terms (lib/rpc/request_fields.ts): protobuf Duration rules and
 * ranges, job IDs, and uint64 values converted exactly or refused.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { IjrError } from "../../lib/errors/mod.ts";
import {
  checkJobId,
  type DurationRange,
  durationToMs,
  formatDuration,
  optionalUint64,
  safeNumber,
} from "../../lib/rpc/services/request_fields.ts";

const RANGE: DurationRange = { minMs: 1, maxMs: 2_592_000_000, text: "from 0.001s to 2592000s" };
const duration = (seconds: bigint, nanos = 0) => create(DurationSchema, { seconds, nanos });

function refused(fn: () => unknown, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof IjrError, String(error));
    assert.deepEqual([error.code, error.message], ["INVALID_ARGUMENT", message]);
    return true;
  });
}

Deno.test("request fields: Durations are formatted as protobuf's JSON mapping does", () => {
  assert.equal(formatDuration(duration(0n)), "0s");
  assert.equal(formatDuration(duration(1n, 500_000_000)), "1.5s");
  assert.equal(formatDuration(duration(0n, 1)), "0.000000001s");
  assert.equal(formatDuration(duration(0n, -1)), "-0.000000001s");
  assert.equal(formatDuration(duration(-3n, -250_000_000)), "-3.25s");
  assert.equal(formatDuration(duration(2n ** 63n - 1n)), "9223372036854775807s");
});

Deno.test("request fields: a Duration in range becomes milliseconds, rounded up", () => {
  assert.equal(durationToMs("timeout", undefined, RANGE), undefined);
  assert.equal(durationToMs("timeout", duration(0n, 1_000_000), RANGE), 1);
  assert.equal(durationToMs("timeout", duration(1n, 500_000_000), RANGE), 1500);
  // Sub-millisecond rest: a timeout never fires early.
  assert.equal(durationToMs("timeout", duration(2n, 1), RANGE), 2001);
  assert.equal(durationToMs("timeout", duration(2_592_000n), RANGE), 2_592_000_000);
  const grace = { minMs: 0, maxMs: 3_600_000, text: "from 0s to 3600s (1 hour)" };
  assert.equal(durationToMs("grace_period", duration(0n), grace), 0);
});

Deno.test("request fields: Durations out of range or against protobuf's rules are refused", () => {
  refused(
    () => durationToMs("timeout", duration(2n ** 63n - 1n), RANGE),
    "timeout must be from 0.001s to 2592000s, got 9223372036854775807s",
  );
  refused(
    () => durationToMs("timeout", duration(-(2n ** 63n)), RANGE),
    "timeout must be from 0.001s to 2592000s, got -9223372036854775808s",
  );
  refused(
    () => durationToMs("timeout", duration(0n), RANGE),
    "timeout must be from 0.001s to 2592000s, got 0s",
  );
  refused(
    () => durationToMs("timeout", duration(0n, 999_999), RANGE),
    "timeout must be from 0.001s to 2592000s, got 0.000999999s",
  );
  refused(
    () => durationToMs("timeout", duration(2_592_000n, 1), RANGE),
    "timeout must be from 0.001s to 2592000s, got 2592000.000000001s",
  );
  refused(
    () => durationToMs("timeout", duration(1n, 1_000_000_000), RANGE),
    "timeout.nanos must be from -999999999 to 999999999, got 1000000000",
  );
  refused(
    () => durationToMs("timeout", duration(0n, -(2 ** 31)), RANGE),
    "timeout.nanos must be from -999999999 to 999999999, got -2147483648",
  );
  refused(
    () => durationToMs("grace_period", duration(5n, -1), RANGE),
    "grace_period.seconds and grace_period.nanos must not have opposite signs, got 5 and -1",
  );
  refused(
    () => durationToMs("grace_period", duration(-5n, 1), RANGE),
    "grace_period.seconds and grace_period.nanos must not have opposite signs, got -5 and 1",
  );
});

Deno.test("request fields: job IDs are 16 lower-case hex digits", () => {
  checkJobId("job_id", "0123456789abcdef");
  refused(() => checkJobId("job_id", ""), 'job_id must be 16 lower-case hex digits, got ""');
  refused(
    () => checkJobId("job_id", "0123456789ABCDEF"),
    'job_id must be 16 lower-case hex digits, got "0123456789ABCDEF"',
  );
  refused(
    () => checkJobId("job_id", "../../etc/passwd"),
    'job_id must be 16 lower-case hex digits, got "../../etc/passwd"',
  );
  refused(
    () => checkJobId("job_id", "a".repeat(1_000_000)),
    `job_id must be 16 lower-case hex digits, got "${"a".repeat(40)}..."`,
  );
});

Deno.test("request fields: uint64 values become numbers exactly or are refused", () => {
  assert.equal(safeNumber("metadata.size", 0n), 0);
  assert.equal(safeNumber("metadata.size", 2n ** 53n - 1n), Number.MAX_SAFE_INTEGER);
  refused(
    () => safeNumber("metadata.size", 2n ** 53n),
    "metadata.size must be from 0 to 9007199254740991, got 9007199254740992",
  );
  refused(
    () => safeNumber("metadata.size", 2n ** 64n - 1n),
    "metadata.size must be from 0 to 9007199254740991, got 18446744073709551615",
  );
  assert.equal(optionalUint64(0n), undefined);
  assert.equal(optionalUint64(2n ** 64n - 1n), 2n ** 64n - 1n);
});
