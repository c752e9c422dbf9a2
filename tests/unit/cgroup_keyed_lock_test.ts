/** KeyedLock (lib/cgroup/keyed_lock.ts): one section per key at a time, in arrival order. */
import assert from "node:assert/strict";
import { KeyedLock } from "../../lib/cgroup/keyed_lock.ts";

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => open = resolve);
  return { opened, open };
}

Deno.test("cgroup keyed lock: sections on one key run one at a time, in order", async () => {
  const lock = new KeyedLock();
  const events: string[] = [];
  const first = gate();
  const a = lock.run("alice", async () => {
    events.push("a start");
    await first.opened;
    events.push("a end");
    return "a";
  });
  const b = lock.run("alice", () => {
    events.push("b");
    return Promise.resolve("b");
  });
  const c = lock.run("alice", () => {
    events.push("c");
    return Promise.resolve("c");
  });
  // Another key is not held up by alice's.
  assert.equal(await lock.run("bob", () => Promise.resolve("bob")), "bob");
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(events, ["a start"]);
  assert.equal(lock.isBusy("alice"), true);
  assert.equal(lock.isBusy("bob"), false);
  first.open();
  assert.deepEqual(await Promise.all([a, b, c]), ["a", "b", "c"]);
  assert.deepEqual(events, ["a start", "a end", "b", "c"]);
  // Idle keys are forgotten.
  assert.equal(lock.isBusy("alice"), false);
});

Deno.test("cgroup keyed lock: a section that throws releases the key", async () => {
  const lock = new KeyedLock();
  const failed = lock.run("alice", () => Promise.reject(new Error("boom")));
  const next = lock.run("alice", () => Promise.resolve("next"));
  await assert.rejects(failed, /^Error: boom$/);
  assert.equal(await next, "next");
  assert.equal(lock.isBusy("alice"), false);
});
