import assert from "node:assert/strict";
import {
  BACKGROUND_DELAY_MS,
  BackgroundWork,
  nextTurnAfter,
} from "../../lib/job/background_work.ts";

Deno.test("background work: settled() waits for every piece, also those tracked while it waits", async () => {
  const work = new BackgroundWork();
  const done: string[] = [];
  let finishSecond: () => void = () => {};
  work.track(
    new Promise<void>((resolve) => setTimeout(resolve, 10)).then(() => {
      done.push("first");
      // Tracked while settled() is already waiting for the first.
      work.track(
        new Promise<void>((resolve) => finishSecond = resolve).then(() => done.push("second")),
      );
      setTimeout(() => finishSecond(), 10);
    }),
  );
  await work.settled();
  assert.deepEqual(done, ["first", "second"]);
});

Deno.test("background work: a failed piece neither breaks settled() nor is swallowed for its caller", async () => {
  const work = new BackgroundWork();
  const failing = work.track(Promise.reject(new Error("rmdir: busy")));
  await work.settled();
  await assert.rejects(failing, { message: "rmdir: busy" });
  await work.settled(); // nothing left in flight
});

Deno.test("background work: work after a moment starts once it settled, in a later turn, tracked from the first", async () => {
  const work = new BackgroundWork();
  const events: string[] = [];
  const moment = Promise.withResolvers<void>();
  work.trackAfter(nextTurnAfter(moment.promise), () => {
    events.push("work");
    return Promise.resolve();
  });
  const settled = work.settled().then(() => events.push("settled"));
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(events.length, 0);
  // What the moment's own followers do in their microtasks (a start's caller writing its
  // answer) comes first, however many steps it takes.
  moment.resolve();
  void moment.promise.then(() => Promise.resolve()).then(() => Promise.resolve()).then(() =>
    events.push("caller")
  );
  await settled;
  assert.deepEqual(events, ["caller", "work", "settled"]);
});

Deno.test("background work: a failed moment still starts the work", async () => {
  const work = new BackgroundWork();
  let ran = false;
  await work.trackAfter(nextTurnAfter(Promise.reject(new Error("no record"))), () => {
    ran = true;
    return Promise.resolve();
  });
  assert.equal(ran, true);
});

Deno.test("background work: later work waits the background delay", async () => {
  const work = new BackgroundWork();
  const started = performance.now();
  let ranAfter = -1;
  work.trackLater(() => {
    ranAfter = performance.now() - started;
    return Promise.resolve();
  });
  assert.equal(ranAfter, -1);
  await work.settled();
  // Timers fire no sooner than asked (a millisecond of rounding aside).
  assert.ok(ranAfter >= BACKGROUND_DELAY_MS - 1, `ran after ${ranAfter} ms`);
});
