/**
 * The reserve behind the job folders and the namespaces made ahead (lib/job/made_ahead.ts):
 * refilled after a take (once its latest taker is done, when it says so, for a while at most)
 * and never during it, closed with whatever a make in flight still produces, usable again after
 * close, stopped by a failing make until the next take.
 */
import assert from "node:assert/strict";
import { MAX_REFILL_WAIT_MS } from "../../lib/job/background_work.ts";
import { MadeAhead } from "../../lib/job/made_ahead.ts";

/** A maker whose items are numbers, with a log of what was made and released. */
function counter(options: { reserve: number; failAt?: number; slowMs?: number }) {
  const made: number[] = [];
  const released: number[] = [];
  let next = 0;
  const ahead = new MadeAhead<number>({
    reserve: options.reserve,
    refillAfterMs: 0,
    make: async () => {
      if (options.slowMs) await new Promise((resolve) => setTimeout(resolve, options.slowMs));
      const item = next++;
      if (item === options.failAt) throw new Error("refused");
      made.push(item);
      return item;
    },
    release: (item) => void released.push(item),
  });
  return { ahead, made, released };
}

Deno.test("made ahead: nothing before the first take, the reserve after it, in order", async () => {
  const { ahead, made } = counter({ reserve: 2 });
  assert.equal(ahead.take(), undefined);
  assert.deepEqual(made, []); // not during the take
  await ahead.settled();
  assert.equal(ahead.ready, 2);
  assert.equal(ahead.take(), 0);
  assert.equal(ahead.take(), 1);
  await ahead.settled();
  assert.deepEqual(made, [0, 1, 2, 3]);
  assert.equal(ahead.ready, 2);
});

Deno.test("made ahead: close waits for a make in flight and releases what it made", async () => {
  const { ahead, made, released } = counter({ reserve: 3, slowMs: 20 });
  ahead.take();
  await new Promise((resolve) => setTimeout(resolve, 5)); // the first make is under way
  await ahead.close();
  assert.equal(ahead.ready, 0);
  assert.deepEqual(released, made); // every one made was released, none kept
  assert.equal(made.length, 1); // the refill stopped at the close
});

Deno.test("made ahead: a take after close refills, and the next close releases it", async () => {
  const { ahead, released } = counter({ reserve: 1 });
  await ahead.close();
  assert.equal(ahead.take(), undefined);
  await ahead.settled();
  assert.equal(ahead.ready, 1);
  await ahead.close();
  assert.deepEqual(released, [0]);
});

Deno.test("made ahead: a failing make stops the refill; the next take tries again", async () => {
  const { ahead, made } = counter({ reserve: 3, failAt: 1 });
  ahead.take();
  await ahead.settled();
  assert.deepEqual(made, [0]); // 1 failed, and nothing after it
  assert.equal(ahead.take(), 0);
  await ahead.settled();
  assert.deepEqual(made, [0, 2, 3, 4]);
});

Deno.test("made ahead: a reserve of 0 makes nothing", async () => {
  const { ahead, made } = counter({ reserve: 0 });
  assert.equal(ahead.take(), undefined);
  await ahead.settled();
  assert.deepEqual(made, []);
});

Deno.test("made ahead: a take's refill waits until the moment its taker gives", async () => {
  // A start gives the moment it is done: the refill must not compete with its spawn.
  const { ahead, made } = counter({ reserve: 1 });
  const startDone = Promise.withResolvers<void>();
  assert.equal(ahead.take(startDone.promise), undefined);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(made, []);
  assert.equal(ahead.ready, 0);
  startDone.resolve();
  await ahead.settled();
  assert.deepEqual(made, [0]);
  assert.equal(ahead.ready, 1);
});

Deno.test("made ahead: a take while a refill waits moves it to the later taker's moment", async () => {
  const { ahead, made } = counter({ reserve: 2 });
  const first = Promise.withResolvers<void>();
  const second = Promise.withResolvers<void>();
  ahead.take(first.promise);
  ahead.take(second.promise); // a second start, in its spawn while the first is done
  first.resolve();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(made, []);
  second.resolve();
  await ahead.settled();
  assert.deepEqual(made, [0, 1]);
});

Deno.test("made ahead: a taker that never says it is done holds the refill back a while only", async () => {
  const { ahead, made } = counter({ reserve: 1 });
  const started = performance.now();
  ahead.take(new Promise(() => {}));
  await ahead.settled();
  assert.deepEqual(made, [0]);
  const waited = performance.now() - started;
  assert.ok(waited >= MAX_REFILL_WAIT_MS - 1, `refilled after ${waited} ms`);
});
