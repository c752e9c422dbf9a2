import assert from "node:assert/strict";
import { OneShotWatches } from "../../lib/native/inotify.ts";

const tick = (ms = 50) => new Promise((r) => setTimeout(r, ms));

/** inotify instances this process holds. */
function inotifyInstances(): number {
  return [...Deno.readDirSync("/proc/self/fd")].filter((entry) => {
    try {
      return Deno.readLinkSync(`/proc/self/fd/${entry.name}`) === "anon_inode:inotify";
    } catch {
      return false;
    }
  }).length;
}

Deno.test("one-shot watches: a modification calls its handler once, until watched again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr-inotify-" });
  const watches = new OneShotWatches();
  try {
    const file = `${dir}/output`;
    Deno.writeTextFileSync(file, "");
    let calls = 0;
    watches.watch(file, () => calls++);
    assert.equal(watches.size, 1);
    for (let i = 0; i < 100; i++) Deno.writeTextFileSync(file, "x", { append: true });
    await tick();
    assert.equal(calls, 1);
    assert.equal(watches.size, 0);
    Deno.writeTextFileSync(file, "x", { append: true });
    await tick();
    assert.equal(calls, 1);
    watches.watch(file, () => calls++);
    Deno.writeTextFileSync(file, "x", { append: true });
    await tick();
    assert.equal(calls, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("one-shot watches: a cancelled watch is never called; many files share one instance", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr-inotify-" });
  const instancesBefore = inotifyInstances();
  const watches = new OneShotWatches();
  try {
    // More files than fs.inotify.max_user_instances (128 by default) allows instances.
    const called = new Set<number>();
    const wds: number[] = [];
    for (let i = 0; i < 300; i++) {
      Deno.writeTextFileSync(`${dir}/f${i}`, "");
      wds.push(watches.watch(`${dir}/f${i}`, () => called.add(i)));
    }
    watches.cancel(wds[7]);
    for (let i = 0; i < 300; i++) Deno.writeTextFileSync(`${dir}/f${i}`, "y");
    await tick(100);
    assert.equal(called.size, 299);
    assert.equal(called.has(7), false);
    assert.equal(inotifyInstances() - instancesBefore, 1);
    assert.throws(() => watches.watch(`${dir}/missing`, () => {}), /cannot watch .*: no such file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
