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

Deno.test("one-shot watches: the first watch on a file being written does not end the process by SIGIO", async () => {
  // SIGIO's default action ends a process. A fresh process (no SIGIO listener yet) watches a
  // file that another process appends to without pause: its first event comes at once, and
  // must find the listener in place.
  const dir = await Deno.makeTempDir({ prefix: "ijr-inotify-" });
  const file = `${dir}/output`;
  Deno.writeTextFileSync(file, "");
  const writer = new Deno.Command("sh", {
    args: ["-c", 'while :; do echo x; done >> "$0"', file],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const module = new URL("../../lib/native/inotify.ts", import.meta.url).href;
    const program = `import { OneShotWatches } from "${module}";\n` +
      "await new Promise((resolve) => new OneShotWatches().watch(Deno.args[0], resolve));\n" +
      'console.log("called");';
    for (let run = 0; run < 5; run++) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--quiet", program, file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.signal, null, `run ${run} ended by ${out.signal}`);
      assert.deepEqual([out.code, new TextDecoder().decode(out.stdout)], [0, "called\n"]);
    }
  } finally {
    writer.kill("SIGKILL");
    await writer.status;
    await Deno.remove(dir, { recursive: true });
  }
});
