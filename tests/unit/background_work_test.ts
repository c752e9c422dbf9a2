import assert from "node:assert/strict";
import { BackgroundWork } from "../../lib/job/background_work.ts";

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
