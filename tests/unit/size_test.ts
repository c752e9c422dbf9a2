import assert from "node:assert/strict";
import { formatByteSize, parseByteSize } from "../../lib/units/size.ts";

Deno.test("sizes: bytes, k, m, g, 1024-based, either case", () => {
  assert.equal(parseByteSize("100"), 100);
  assert.equal(parseByteSize("100b"), 100);
  assert.equal(parseByteSize("1024k"), 1_048_576);
  assert.equal(parseByteSize("2m"), 2_097_152);
  assert.equal(parseByteSize("2M"), 2_097_152);
  assert.equal(parseByteSize("1g"), 1_073_741_824);
  assert.equal(parseByteSize("32m"), 33_554_432);
});

Deno.test("sizes: malformed, zero, negative, unknown unit and overflow are named", () => {
  assert.throws(() => parseByteSize(""), /invalid size "": use a number with an optional unit/);
  assert.throws(() => parseByteSize("abc"), /invalid size "abc"/);
  assert.throws(() => parseByteSize("1.5m"), /invalid size "1.5m"/);
  assert.throws(() => parseByteSize("-5m"), /invalid size "-5m"/);
  assert.throws(() => parseByteSize("10t"), /unknown unit "t" in "10t": use b, k, m or g/);
  assert.throws(() => parseByteSize("10kb"), /unknown unit "kb"/);
  assert.throws(() => parseByteSize("0"), /size must be greater than zero, got "0"/);
  assert.throws(() => parseByteSize("0m"), /size must be greater than zero/);
  assert.throws(() => parseByteSize("99999999999g"), /size "99999999999g" is too large/);
});

Deno.test("sizes: formatted for people", () => {
  assert.equal(formatByteSize(100), "100 B");
  assert.equal(formatByteSize(33_554_432), "32.0 MiB");
  assert.equal(formatByteSize(1_610_612_736), "1.5 GiB");
});
