import assert from "node:assert/strict";
import { IjrError } from "../../lib/errors/mod.ts";
import { cpuSharesToWeight } from "../../lib/cgroup/weight.ts";

Deno.test("cgroup weight: runc/crun's exact values", () => {
  assert.equal(cpuSharesToWeight(2), 1);
  assert.equal(cpuSharesToWeight(512), 59);
  assert.equal(cpuSharesToWeight(1024), 100);
  assert.equal(cpuSharesToWeight(2048), 174);
  assert.equal(cpuSharesToWeight(262_144), 10_000);
  // Between the fixed points: ceil(10^((l² + 125l)/612 − 7/34)).
  assert.equal(cpuSharesToWeight(3), 2);
  assert.equal(cpuSharesToWeight(100), 17);
  assert.equal(cpuSharesToWeight(10_000), 627);
});

Deno.test("cgroup weight: monotonic and inside 1..10000 over the whole range", () => {
  let previous = 0;
  for (let shares = 2; shares <= 262_144; shares++) {
    const weight = cpuSharesToWeight(shares);
    assert.ok(weight >= previous, `weight falls at ${shares}`);
    assert.ok(weight >= 1 && weight <= 10_000, `weight ${weight} out of range at ${shares}`);
    previous = weight;
  }
});

Deno.test("cgroup weight: shares outside 2..262144 are refused", () => {
  for (const shares of [0, 1, 262_145, 1.5, NaN]) {
    assert.throws(() => cpuSharesToWeight(shares), (error: unknown) => {
      assert.ok(error instanceof IjrError);
      assert.equal(error.code, "INVALID_ARGUMENT");
      assert.match(error.message, /CPU shares must be an integer from 2 to 262144/);
      return true;
    });
  }
});
