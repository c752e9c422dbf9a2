/**
 * followOutput against real files, real writers (another process, or a second file handle)
 * and the real inotify-backed watcher. Needs no root. Sanitizers stay on: every test must
 * close its files, watchers and processes.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { IjrError } from "../../lib/errors/mod.ts";
import { outputWatcherCount } from "../../lib/job/output_log.ts";
import { followOutput } from "../../lib/job/output_reader.ts";

/** Deterministic bytes (xorshift32); a few KiB already contain all 256 byte values. */
function pseudoRandomBytes(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** What a follower received: exact length, digest, largest chunk, chunk count. */
interface Received {
  length: number;
  sha256: string;
  largestChunk: number;
  chunks: number;
}

/** Consumes a follower completely; `onChunk` sees the running byte count after each chunk. */
async function receive(
  chunks: AsyncIterable<Uint8Array>,
  onChunk?: (receivedSoFar: number) => void,
): Promise<Received> {
  const hash = createHash("sha256");
  const received: Received = { length: 0, sha256: "", largestChunk: 0, chunks: 0 };
  for await (const chunk of chunks) {
    hash.update(chunk);
    received.length += chunk.length;
    received.chunks++;
    received.largestChunk = Math.max(received.largestChunk, chunk.length);
    onChunk?.(received.length);
  }
  received.sha256 = hash.digest("hex");
  return received;
}

/**
 * An abort signal that fires after `ms`: a follower that waits for a wake-up that never
 * comes fails the test with "deadline exceeded" instead of hanging it. `clear()` (in finally)
 * stops the timer and aborts followers a failed assertion left running.
 */
function deadline(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`deadline of ${ms} ms exceeded`)), ms);
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      controller.abort(new Error("test finished"));
    },
  };
}

/**
 * Waits (in short timer steps, up to 10 s) until `condition` holds: lets followers settle into
 * their sleep at end of file before the test inspects shared state. Asserts nothing by itself.
 */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 2) {
    if (waited > 10_000) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Open file descriptors of this process. */
function openFdCount(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

/**
 * Deno opens one inotify instance per isolate on the first watchFs and keeps it; open it
 * before taking an fd baseline so that it is part of the baseline.
 */
async function warmUpWatcher(dir: string): Promise<void> {
  const watcher = Deno.watchFs(dir);
  const pump = (async () => {
    for await (const _ of watcher) { /* nothing */ }
  })();
  watcher.close();
  await pump;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
}

/** A promise resolved by a predicate over a running count, for event-driven test steps. */
function whenReached(target: number): { promise: Promise<void>; update: (count: number) => void } {
  const { promise, resolve } = Promise.withResolvers<void>();
  return { promise, update: (count) => count >= target && resolve() };
}

Deno.test("followers joining before, during and after a writer process get identical bytes (50 MB, binary)", async () => {
  const total = 50 * 1024 * 1024;
  const seed = 0x1badb002;
  const expected = pseudoRandomBytes(seed, total);
  assert.equal(new Set(expected).size, 256, "test data must contain every byte value");
  const expectedSha = sha256(expected);

  const dir = await Deno.makeTempDir({ prefix: "ijr_output_" });
  const path = `${dir}/output`;
  const guard = deadline(120_000);
  const jobEnd = Promise.withResolvers<unknown>();
  const ended = jobEnd.promise;
  let writer: Deno.ChildProcess | undefined;
  const followers: Promise<Received>[] = [];
  const follow = (onChunk?: (count: number) => void) =>
    followers.push(receive(followOutput(path, { ended, signal: guard.signal }), onChunk));
  try {
    // Joins before the file exists (the writer creates it).
    const midway = whenReached(10 * 1024 * 1024);
    follow(midway.update);
    // The writer is another process appending through its own O_APPEND handle, in chunks of
    // varying size with short pauses, so followers repeatedly catch up and sleep at EOF.
    const writerScript = `
      const pseudoRandomBytes = ${pseudoRandomBytes.toString()};
      const [path, total, seed] = [Deno.args[0], Number(Deno.args[1]), Number(Deno.args[2])];
      const data = pseudoRandomBytes(seed, total);
      const file = await Deno.open(path, { write: true, append: true, create: true });
      let offset = 0;
      for (let i = 0; offset < total; i++) {
        const end = Math.min(total, offset + 1 + ((i * 7919) % 300000));
        while (offset < end) offset += await file.write(data.subarray(offset, end));
        if (i % 8 === 0) await new Promise((r) => setTimeout(r, 3));
      }
      file.close();
    `;
    writer = new Deno.Command(Deno.execPath(), {
      args: ["eval", writerScript, path, String(total), String(seed)],
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    writer.status.then(jobEnd.resolve, jobEnd.reject);

    // Joins once the first follower has 10 MB, i.e. while the writer is busy.
    await midway.promise;
    follow();

    assert.equal((await writer.status).code, 0);
    // Joins after the job has ended.
    follow();

    for (const received of await Promise.all(followers)) {
      assert.equal(received.length, total);
      assert.equal(received.sha256, expectedSha);
      assert.ok(received.largestChunk <= 64 * 1024, `chunk of ${received.largestChunk} bytes`);
    }
    assert.equal(outputWatcherCount(), 0);
  } finally {
    guard.clear();
    await Promise.allSettled(followers);
    if (writer !== undefined) {
      try {
        writer.kill("SIGKILL");
      } catch { /* already exited */ }
      await writer.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("100 concurrent followers get identical bytes through one shared watcher", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_" });
  const path = `${dir}/output`;
  const writer = await Deno.open(path, { write: true, append: true, create: true });
  const guard = deadline(60_000);
  const jobEnd = Promise.withResolvers<void>();
  let followers: Promise<Received>[] = [];
  try {
    const part1 = pseudoRandomBytes(7, 256 * 1024);
    const part2 = pseudoRandomBytes(8, 768 * 1024);
    const readers = 100;
    const chunkSize = 4096;
    let mostWatchers = 0;
    const allGotPart1 = whenReached(readers);
    let readersWithPart1 = 0;
    followers = Array.from({ length: readers }, () =>
      receive(
        followOutput(path, { ended: jobEnd.promise, signal: guard.signal, chunkSize }),
        (count) => {
          mostWatchers = Math.max(mostWatchers, outputWatcherCount());
          if (count === part1.length) allGotPart1.update(++readersWithPart1);
        },
      ));

    await writeAll(writer, part1);
    await allGotPart1.promise;
    // Every follower reaches end of file and joins the watcher; still only one exists.
    await until(() => outputWatcherCount() > 0, "a follower sleeps on the watcher");
    assert.equal(outputWatcherCount(), 1);

    await writeAll(writer, part2);
    jobEnd.resolve();
    const expected = sha256(new Uint8Array([...part1, ...part2]));
    for (const received of await Promise.all(followers)) {
      assert.equal(received.length, part1.length + part2.length);
      assert.equal(received.sha256, expected);
      assert.ok(received.largestChunk <= chunkSize, `chunk of ${received.largestChunk} bytes`);
    }
    assert.equal(mostWatchers, 1);
    assert.equal(outputWatcherCount(), 0);
  } finally {
    jobEnd.resolve();
    guard.clear();
    await Promise.allSettled(followers);
    writer.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a write landing just after a follower saw end of file is never missed", async () => {
  // Ping-pong: each byte is written only once the previous one arrived, i.e. exactly when the
  // follower is at (or about to report) end of file. A lost wake-up hangs until the deadline.
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_" });
  const path = `${dir}/output`;
  const writer = await Deno.open(path, { write: true, append: true, create: true });
  const guard = deadline(20_000);
  const jobEnd = Promise.withResolvers<void>();
  try {
    const follower = followOutput(path, { ended: jobEnd.promise, signal: guard.signal });
    for (let i = 0; i < 300; i++) {
      const pending = follower.next();
      await writeAll(writer, new Uint8Array([i & 0xff]));
      const { value, done } = await pending;
      assert.equal(done, false);
      assert.deepEqual([...value!], [i & 0xff]);
    }
    jobEnd.resolve();
    assert.deepEqual(await follower.next(), { value: undefined, done: true });
  } finally {
    jobEnd.resolve();
    guard.clear();
    writer.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a follower of an ended job drains the file and returns without a watcher", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_" });
  const path = `${dir}/output`;
  const guard = deadline(30_000);
  try {
    const data = pseudoRandomBytes(3, 3 * 1024 * 1024 + 17);
    await Deno.writeFile(path, data);
    let mostWatchers = 0;
    const received = await receive(
      followOutput(path, { ended: Promise.resolve(), signal: guard.signal }),
      () => mostWatchers = Math.max(mostWatchers, outputWatcherCount()),
    );
    assert.equal(received.length, data.length);
    assert.equal(received.sha256, sha256(data));
    assert.equal(mostWatchers, 0);
    // A job that failed (its `ended` rejected) has ended too.
    const failed = Promise.reject(new Error("job failed"));
    const fromFailed = await receive(followOutput(path, { ended: failed, signal: guard.signal }));
    assert.equal(fromFailed.sha256, sha256(data));
    assert.equal(outputWatcherCount(), 0);
  } finally {
    guard.clear();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Bytes this process has read with read(2) and its kin so far (/proc/self/io's rchar). */
function bytesReadSoFar(): number {
  return Number(Deno.readTextFileSync("/proc/self/io").match(/^rchar: (\d+)$/m)![1]);
}

Deno.test("a follower from an offset yields the bytes from it, byte-exact, and refuses one past an ended job's output", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_" });
  const path = `${dir}/output`;
  try {
    await Deno.writeFile(path, new Uint8Array([0, 1, 2, 3, 4]));
    // Chunks of 2, so offsets fall inside, between and after chunks.
    const from = async (offset: number) => {
      const bytes: number[] = [];
      const follower = followOutput(path, { ended: Promise.resolve(), chunkSize: 2, offset });
      for await (const chunk of follower) bytes.push(...chunk);
      return bytes;
    };
    assert.deepEqual(await from(0), [0, 1, 2, 3, 4]);
    assert.deepEqual(await from(1), [1, 2, 3, 4]);
    assert.deepEqual(await from(3), [3, 4]);
    assert.deepEqual(await from(5), []);
    await assert.rejects(from(6), (error: unknown) => {
      assert.ok(error instanceof IjrError);
      assert.equal(error.code, "OUT_OF_RANGE");
      assert.equal(error.message, "offset 6 is past the end of the output (5 bytes)");
      return true;
    });
    // A job that wrote nothing at all: any offset but 0 is past its end.
    await Deno.remove(path);
    await assert.rejects(
      receive(followOutput(path, { ended: Promise.resolve(), offset: 1, name: "job j's output" })),
      /^IjrError: offset 1 is past the end of job j's output \(0 bytes\)$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a follower from an offset reads nothing before it, and waits for a running job's output to reach it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_" });
  const path = `${dir}/output`;
  const guard = deadline(30_000);
  const writer = await Deno.open(path, { write: true, create: true, append: true });
  try {
    const data = pseudoRandomBytes(5, 16 * 1024 * 1024);
    await writeAll(writer, data);
    // The last 100 bytes of 16 MiB: a seek, not a read of the 16 MiB before them.
    const before = bytesReadSoFar();
    const tail = await receive(
      followOutput(path, { ended: Promise.resolve(), offset: data.length - 100 }),
    );
    assert.equal(tail.sha256, sha256(data.subarray(data.length - 100)));
    assert.ok(bytesReadSoFar() - before < 1024 * 1024, "the bytes before the offset were read");

    // Past what a running job has written: nothing until the output reaches the offset.
    const { promise: ended, resolve: end } = Promise.withResolvers<void>();
    const offset = data.length + 1000;
    const collected: number[] = [];
    const following = (async () => {
      const follower = followOutput(path, { ended, offset, signal: guard.signal });
      for await (const chunk of follower) collected.push(...chunk);
    })();
    await writeAll(writer, pseudoRandomBytes(6, 999));
    await until(() => outputWatcherCount() === 1, "the follower waits at end of file");
    assert.deepEqual(collected, []);
    await writeAll(writer, new Uint8Array([7, 8, 9]));
    await until(() => collected.length === 2, "the bytes past the offset arrive");
    assert.deepEqual(collected, [8, 9]);
    end();
    await following;
    assert.deepEqual(collected, [8, 9]);
  } finally {
    writer.close();
    guard.clear();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("chunks are never larger than chunkSize and carry every byte value unchanged", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_" });
  const path = `${dir}/output`;
  try {
    const allValues = Uint8Array.from({ length: 256 }, (_, i) => i);
    await Deno.writeFile(path, allValues);
    const chunks: number[][] = [];
    for await (const chunk of followOutput(path, { ended: Promise.resolve(), chunkSize: 1 })) {
      chunks.push([...chunk]);
    }
    assert.deepEqual(chunks, [...allValues].map((value) => [value]));

    const sizes: number[] = [];
    for await (const chunk of followOutput(path, { ended: Promise.resolve(), chunkSize: 100 })) {
      sizes.push(chunk.length);
    }
    assert.deepEqual(sizes, [100, 100, 56]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a follower that arrives before the file exists waits for it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_" });
  const path = `${dir}/output`;
  const guard = deadline(30_000);
  const jobEnd = Promise.withResolvers<void>();
  try {
    const follower = followOutput(path, { ended: jobEnd.promise, signal: guard.signal });
    const first = follower.next();
    await Deno.writeTextFile(path, "hello\n");
    const { value } = await first;
    assert.equal(new TextDecoder().decode(value!), "hello\n");
    jobEnd.resolve();
    assert.equal((await follower.next()).done, true);

    // The job ended without ever creating its output: the output is empty.
    const none = await receive(followOutput(`${dir}/never`, { ended: Promise.resolve() }));
    assert.equal(none.length, 0);
  } finally {
    jobEnd.resolve();
    guard.clear();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an aborted follower releases its file handle and the watcher at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_" });
  const path = `${dir}/output`;
  const writer = await Deno.open(path, { write: true, append: true, create: true });
  const jobEnd = Promise.withResolvers<void>();
  try {
    await warmUpWatcher(dir);
    await writeAll(writer, pseudoRandomBytes(5, 200_000));
    const baseline = openFdCount();

    // 1. Aborted while waiting at end of file, a next() pending.
    const waiting = new AbortController();
    const a = followOutput(path, { ended: jobEnd.promise, signal: waiting.signal });
    let got = 0;
    while (got < 200_000) got += (await a.next()).value!.length;
    const pending = a.next();
    // Sleeping at EOF: holds one file handle and one share of the only watcher.
    await until(() => outputWatcherCount() === 1, "the follower sleeps on the watcher");
    assert.equal(openFdCount(), baseline + 1);
    assert.equal(outputWatcherCount(), 1);
    waiting.abort();
    await assert.rejects(pending, { name: "AbortError" });
    assert.equal(openFdCount(), baseline);
    assert.equal(outputWatcherCount(), 0);

    // 2. Aborted while parked at a yield, the consumer not iterating: released synchronously.
    const parked = new AbortController();
    const b = followOutput(path, { ended: jobEnd.promise, signal: parked.signal, chunkSize: 1000 });
    assert.equal((await b.next()).value!.length, 1000);
    assert.equal(openFdCount(), baseline + 1);
    parked.abort(new Error("client went away"));
    assert.equal(openFdCount(), baseline);
    await assert.rejects(b.next(), { message: "client went away" });
    assert.equal(openFdCount(), baseline);

    // 3. The consumer stops iterating (break calls return()).
    for await (const _ of followOutput(path, { ended: jobEnd.promise, chunkSize: 1000 })) break;
    assert.equal(openFdCount(), baseline);

    // 4. Already aborted: fails before opening anything.
    const gone = followOutput(path, { ended: jobEnd.promise, signal: AbortSignal.abort() });
    await assert.rejects(gone.next(), { name: "AbortError" });
    assert.equal(openFdCount(), baseline);

    // 5. Two followers share the watcher; it closes only when the second leaves.
    const first = new AbortController();
    const second = new AbortController();
    const c = followOutput(path, { ended: jobEnd.promise, signal: first.signal });
    const d = followOutput(path, { ended: jobEnd.promise, signal: second.signal });
    for (const follower of [c, d]) {
      let n = 0;
      while (n < 200_000) n += (await follower.next()).value!.length;
    }
    const cNext = c.next();
    const dNext = d.next();
    await until(() => outputWatcherCount() === 1, "the followers sleep on the watcher");
    first.abort();
    await assert.rejects(cNext, { name: "AbortError" });
    assert.equal(outputWatcherCount(), 1);
    await writeAll(writer, new Uint8Array([42]));
    assert.deepEqual([...(await dNext).value!], [42]);
    second.abort();
    await assert.rejects(d.next(), { name: "AbortError" });
    assert.equal(outputWatcherCount(), 0);
    assert.equal(openFdCount(), baseline);
  } finally {
    jobEnd.resolve();
    writer.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad arguments are refused with a clear error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr_output_" });
  try {
    const ended = Promise.resolve();
    const cases: [AsyncGenerator<Uint8Array>, string, RegExp][] = [
      [followOutput(`${dir}/output`, { ended, chunkSize: 0 }), "INVALID_ARGUMENT", /chunkSize/],
      [followOutput(`${dir}/output`, { ended, chunkSize: 1.5 }), "INVALID_ARGUMENT", /chunkSize/],
      [
        followOutput(`${dir}/output`, { ended, chunkSize: 17 * 1024 * 1024 }),
        "INVALID_ARGUMENT",
        /chunkSize/,
      ],
      [followOutput(`${dir}/output`, { ended, offset: -1 }), "INVALID_ARGUMENT", /offset/],
      [followOutput(`${dir}/output`, { ended, offset: 2 ** 53 }), "INVALID_ARGUMENT", /offset/],
      [followOutput("", { ended }), "INVALID_ARGUMENT", /path/],
      [
        followOutput(`${dir}/output`, { ended: undefined as unknown as Promise<void> }),
        "INVALID_ARGUMENT",
        /ended/,
      ],
      [
        followOutput(`${dir}/missing/output`, { ended: new Promise(() => {}) }),
        "NOT_FOUND",
        /output directory does not exist: .*\/missing$/,
      ],
    ];
    for (const [follower, code, message] of cases) {
      await assert.rejects(follower.next(), (error: unknown) => {
        assert.ok(error instanceof IjrError);
        assert.equal(error.code, code);
        assert.match(error.message, message);
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
