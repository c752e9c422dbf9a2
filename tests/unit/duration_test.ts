import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../../lib/units/duration.ts";

Deno.test("durations: units ms, s, m, h, d, combined, and bare seconds", () => {
  assert.equal(parseDuration("7d"), 604_800_000);
  assert.equal(parseDuration("1d12h"), 129_600_000);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("10s"), 10_000);
  assert.equal(parseDuration("1.5s"), 1_500);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("30"), 30_000);
  assert.equal(parseDuration("0s"), 0);
});

Deno.test("durations: malformed input names the problem", () => {
  for (const bad of ["", "abc", "10x", "-5s", "s", "1h-2m", "1e3s"]) {
    assert.throws(() => parseDuration(bad), /invalid duration/, bad);
  }
  assert.throws(() => parseDuration("100000000h"), /too long \(at most 30d\)/);
  assert.throws(() => parseDuration("31d"), /"31d" is too long \(at most 30d\)/);
  assert.equal(parseDuration("31d", 365 * 86_400_000), 31 * 86_400_000);
  assert.throws(() => parseDuration("2h", 3_600_000), /"2h" is too long \(at most 1h\)/);
});

Deno.test("durations: formatted for people", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(1_500), "1.5s");
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(3_723_000), "1h2m3s");
  assert.equal(formatDuration(12), "12ms");
  assert.equal(formatDuration(90_000_000), "1d1h");
});
