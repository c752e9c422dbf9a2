/**
 * The shared, reference-counted watcher of output files (lib/job/output_log.ts), against real
 * files and the real inotify-backed Deno.watchFs. Needs no root; sanitizers stay on.
 */

import assert from "node:assert/strict";
import { IjrError } from "../../lib/errors/mod.ts";
import { outputWatcherCount, subscribeToOutput } from "../../lib/job/output_log.ts";

/** A listener that counts calls and lets the test await the next one. */
function countingListener(): {
  listener: () => void;
  calls: () => number;
  next: () => Promise<void>;
} {
  let calls = 0;
  let waiting: (() => void) | undefined;
  return {
    listener: () => {
      calls++;
      waiting?.();
      waiting = undefined;
    },
    calls: () => calls,
    next: () => new Promise((resolve) => waiting = resolve),
  };
}

Deno.test("subscribers of one file share one watcher, closed when the last one leaves", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_log_" });
  const link = `${dir}-link`;
  try {
    await Deno.symlink(dir, link);
    const path = `${dir}/output`;
    await Deno.writeFile(path, new Uint8Array());
    const a = countingListener();
    const b = countingListener();
    // Two spellings of the same file: through a symlinked directory and with a "." step.
    const first = subscribeToOutput(`${link}/output`, a.listener);
    const second = subscribeToOutput(`${dir}/./output`, b.listener);
    assert.equal(outputWatcherCount(), 1);

    const bothCalled = Promise.all([a.next(), b.next()]);
    await Deno.writeFile(path, new Uint8Array([1, 2, 3]), { append: true });
    await bothCalled;

    first.unsubscribe();
    first.unsubscribe(); // idempotent: must not drop the other subscriber's share
    assert.equal(outputWatcherCount(), 1);
    const onlySecond = b.next();
    const callsOfFirst = a.calls();
    await Deno.writeFile(path, new Uint8Array([4]), { append: true });
    await onlySecond;
    assert.equal(a.calls(), callsOfFirst);

    second.unsubscribe();
    assert.equal(outputWatcherCount(), 0);
  } finally {
    await Deno.remove(link).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("different files get different watchers, even in one directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_log_" });
  try {
    const b = countingListener();
    const first = subscribeToOutput(`${dir}/a`, () => {});
    const second = subscribeToOutput(`${dir}/b`, b.listener);
    try {
      assert.equal(outputWatcherCount(), 2);
      // Both watch the same directory: closing one must leave the other's watch working.
      first.unsubscribe();
      assert.equal(outputWatcherCount(), 1);
      const called = b.next();
      await Deno.writeTextFile(`${dir}/b`, "x");
      await called;
    } finally {
      first.unsubscribe();
      second.unsubscribe();
    }
    assert.equal(outputWatcherCount(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the creation of a file that did not exist yet is reported", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_log_" });
  try {
    const counter = countingListener();
    const subscription = subscribeToOutput(`${dir}/output`, counter.listener);
    try {
      const called = counter.next();
      await Deno.writeTextFile(`${dir}/output`, "");
      await called;
    } finally {
      subscription.unsubscribe();
    }
    assert.equal(outputWatcherCount(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file in a missing directory is refused with NOT_FOUND", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_log_" });
  try {
    assert.throws(() => subscribeToOutput(`${dir}/gone/output`, () => {}), (error: unknown) => {
      assert.ok(error instanceof IjrError);
      assert.equal(error.code, "NOT_FOUND");
      assert.equal(error.message, `output directory does not exist: ${dir}/gone`);
      return true;
    });
    assert.equal(outputWatcherCount(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
