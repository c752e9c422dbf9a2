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

/** This process's inotify descriptors that are signal-driven (O_ASYNC in their fdinfo flags). */
function signalDrivenInotify(): string[] {
  const O_ASYNC = 0o20000;
  return [...Deno.readDirSync("/proc/self/fd")].map((entry) => entry.name).filter((fd) => {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${fd}`) !== "anon_inode:inotify") return false;
      const flags = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`).match(/^flags:\s+(\d+)/m);
      return flags !== null && (parseInt(flags[1], 8) & O_ASYNC) !== 0;
    } catch {
      return false;
    }
  });
}

Deno.test("one-shot watches: the SIGIO listener is there before the descriptor sends SIGIO", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr-inotify-" });
  const before = new Set(signalDrivenInotify());
  const original = Deno.addSignalListener;
  const seen: string[][] = [];
  // What was signal-driven when the listener was added: none of this instance's descriptors.
  Deno.addSignalListener = (signal, handler) => {
    if (signal === "SIGIO") seen.push(signalDrivenInotify().filter((fd) => !before.has(fd)));
    original(signal, handler);
  };
  const watches = new OneShotWatches();
  try {
    Deno.writeTextFileSync(`${dir}/output`, "");
    let calls = 0;
    const wd = watches.watch(`${dir}/output`, () => calls++);
    assert.deepEqual(seen, [[]]);
    assert.equal(signalDrivenInotify().filter((fd) => !before.has(fd)).length, 1);
    Deno.writeTextFileSync(`${dir}/output`, "x");
    await tick();
    assert.equal(calls, 1);
    watches.cancel(wd);
    // A watch that cannot be set leaves no listener behind either.
    assert.throws(() => watches.watch(`${dir}/missing`, () => {}), /cannot watch .*: no such file/);
    assert.equal(watches.size, 0);
  } finally {
    Deno.addSignalListener = original;
    await Deno.remove(dir, { recursive: true });
  }
});
