/**
 * The bound on each user's open WaitJob, RunJob and StreamOutput calls (lib/rpc/services/
 * watch_limit.ts): counted per user, refused past the bound with RESOURCE_EXHAUSTED naming it
 * and the flag, freed once per watch however often its end is called. The daemon's calls over
 * a real ijrd: tests/e2e/watch_limit_test.ts.
 */
import assert from "node:assert/strict";
import { WatchLimit } from "../../lib/rpc/services/mod.ts";
import { IjrError } from "../../lib/errors/mod.ts";

Deno.test("watch limit: each user up to the bound, then RESOURCE_EXHAUSTED naming it", () => {
  const limit = new WatchLimit(2);
  const first = limit.enter("alice");
  limit.enter("alice");
  assert.throws(() => limit.enter("alice"), (error: unknown) => {
    assert.ok(error instanceof IjrError);
    assert.equal(error.code, "RESOURCE_EXHAUSTED");
    assert.equal(
      error.message,
      "alice has 2 calls open that wait for or follow jobs (WaitJob, RunJob, StreamOutput): " +
        "at most 2 at once (--max-watches-per-user); end one first",
    );
    return true;
  });
  assert.equal(limit.openBy("alice"), 2, "a refused watch is not counted");
  // Another user has a bound of their own.
  const bob = limit.enter("bob");
  assert.equal(limit.openBy("bob"), 1);
  // An end frees one place, once, however often it is called.
  first();
  first();
  assert.equal(limit.openBy("alice"), 1);
  limit.enter("alice");
  assert.throws(() => limit.enter("alice"), IjrError);
  bob();
  assert.equal(limit.openBy("bob"), 0);
});

Deno.test("watch limit: the bound is a positive integer", () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => new WatchLimit(bad), RangeError, String(bad));
  }
});
