/**
 * The store's life cycle on real files: list, replace, delete, leases, concurrent uploads,
 * aborted uploads, crash leftovers (with a process really killed mid-upload), limits and
 * announced size/hash checks.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { IjrError } from "../../lib/errors/mod.ts";
import { RootfsStore, type RootfsStoreOptions } from "../../lib/rootfs/mod.ts";
import { busyboxTarball } from "../helpers/busybox.ts";
import { rootTest } from "../helpers/root.ts";
import { buildTar, chunksOf, fileChunks, gzip, type TarMember } from "../helpers/tar_writer.ts";

async function withStore(
  fn: (store: RootfsStore, dir: string) => Promise<void>,
  options: Partial<RootfsStoreOptions> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ijr-rootfs-store-" });
  try {
    const store = await RootfsStore.open({ ...options, dir: join(dir, "store") });
    await fn(store, join(dir, "store"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function tarball(members: TarMember[]): Promise<Uint8Array> {
  return await gzip(buildTar(members));
}

function simpleTree(content: string): Promise<Uint8Array> {
  return tarball([
    { name: "./", type: "5", mode: 0o755, mtime: 1_600_000_000 },
    { name: "./etc/", type: "5" },
    { name: "./etc/version", data: content, mode: 0o644 },
  ]);
}

async function rejects(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    return true;
  });
}

function throwsCode(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof IjrError);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

async function storeEntries(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
}

/** A chunk source the test releases step by step. */
function gatedSource(bytes: Uint8Array, chunkSize: number) {
  let tokens = 0;
  let waiting: (() => void) | undefined;
  let failWith: unknown;
  const state = {
    /** Chunks handed out so far. */
    delivered: 0,
    /** Lets the next chunk through (or the end). */
    step(): void {
      const release = waiting;
      waiting = undefined;
      if (release) release();
      else tokens++;
    },
    failNext(error: unknown): void {
      failWith = error;
      state.step();
    },
    async *chunks(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < bytes.length; at += chunkSize) {
        if (tokens > 0) tokens--;
        else await new Promise<void>((resolve) => (waiting = resolve));
        if (failWith !== undefined) throw failWith;
        state.delivered++;
        yield bytes.slice(at, at + chunkSize);
      }
    },
  };
  return state;
}

/** Waits (polling, bounded) until a condition holds: no fixed sleeps on a loaded machine. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

rootTest("upload, list, get, reopen: the store remembers name, size, entries, time", async () => {
  await withStore(async (store, dir) => {
    const bytes = await simpleTree("1.0\n");
    const before = Date.now();
    const result = await store.upload(chunksOf(bytes, 7), { name: "small" });
    const after = Date.now();
    assert.equal(result.compressedBytes, bytes.length);
    assert.equal(result.skippedSpecialFiles, 0);
    assert.equal(result.rootfs.name, "small");
    assert.equal(result.rootfs.entries, 3);
    assert.equal(result.rootfs.sizeBytes, 4);
    assert.deepEqual(result.rootfs.runningJobs, []);
    const created = result.rootfs.createdAt.getTime();
    assert.ok(created >= before && created <= after);
    assert.deepEqual(store.list(), [result.rootfs]);
    assert.deepEqual(store.get("small"), result.rootfs);
    assert.equal(await Deno.readTextFile(join(store.treePath("small"), "etc/version")), "1.0\n");
    // The tree holds the archive's members only; the metadata lives beside it.
    assert.deepEqual(await storeEntries(store.treePath("small")), ["etc"]);
    assert.deepEqual(await storeEntries(join(dir, "small")), ["info.json", "rootfs"]);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);

    const reopened = await RootfsStore.open({ dir });
    assert.deepEqual(reopened.list(), [result.rootfs]);
    throwsCode(() => store.get("other"), "NOT_FOUND", /no rootfs named "other"/);
  });
});

rootTest(
  "an existing name is ALREADY_EXISTS; replace swaps the tree; leases block it",
  async () => {
    await withStore(async (store, dir) => {
      await store.upload(chunksOf(await simpleTree("1\n")), { name: "app" });
      await rejects(
        store.upload(chunksOf(await simpleTree("2\n")), { name: "app" }),
        "ALREADY_EXISTS",
        /rootfs "app" already exists \(upload with replace to overwrite it\)/,
      );
      const lease = store.acquire("app", "job-7");
      await rejects(
        store.upload(chunksOf(await simpleTree("2\n")), { name: "app", replace: true }),
        "FAILED_PRECONDITION",
        /rootfs "app" cannot be replaced while jobs use it: job-7/,
      );
      assert.equal(await Deno.readTextFile(join(lease.path, "etc/version")), "1\n");
      lease.release();
      lease.release(); // idempotent
      const replaced = await store.upload(chunksOf(await simpleTree("22\n")), {
        name: "app",
        replace: true,
      });
      assert.equal(replaced.rootfs.sizeBytes, 3);
      assert.equal(await Deno.readTextFile(join(store.treePath("app"), "etc/version")), "22\n");
      // The old tree is gone: only the new one and nothing temporary.
      assert.deepEqual(await storeEntries(dir), ["app"]);
    });
  },
);

rootTest(
  "a job leasing during a replace upload makes the replace fail, old tree intact",
  async () => {
    await withStore(async (store, dir) => {
      await store.upload(chunksOf(await simpleTree("old\n")), { name: "app" });
      const source = gatedSource(await simpleTree("new\n"), 16);
      const upload = store.upload(source.chunks(), { name: "app", replace: true });
      source.step();
      await until(() => source.delivered === 1, "the first chunk to be read");
      // The old tree still serves jobs while the new one is being uploaded.
      const lease = store.acquire("app", "job-during");
      for (let i = 0; i < 100; i++) source.step();
      await rejects(
        upload,
        "FAILED_PRECONDITION",
        /cannot be replaced while jobs use it: job-during/,
      );
      assert.equal(await Deno.readTextFile(join(lease.path, "etc/version")), "old\n");
      assert.deepEqual(await storeEntries(dir), ["app"]);
      lease.release();
    });
  },
);

rootTest(
  "delete while leased names the jobs; after release it deletes, and acquire fails",
  async () => {
    await withStore(async (store, dir) => {
      await store.upload(chunksOf(await simpleTree("x\n")), { name: "base" });
      const first = store.acquire("base", "job-b");
      const second = store.acquire("base", "job-a");
      const third = store.acquire("base", "job-b");
      assert.equal(first.path, join(dir, "base", "rootfs"));
      assert.deepEqual(store.list()[0].runningJobs, ["job-a", "job-b"]);
      await rejects(
        store.delete("base"),
        "FAILED_PRECONDITION",
        /^rootfs "base" is in use by running jobs: job-a, job-b$/,
      );
      first.release();
      second.release();
      await rejects(store.delete("base"), "FAILED_PRECONDITION", /running jobs: job-b$/);
      third.release();
      await store.delete("base");
      assert.deepEqual(store.list(), []);
      assert.deepEqual(await storeEntries(dir), []);
      throwsCode(() => store.acquire("base", "job-c"), "NOT_FOUND", /no rootfs named "base"/);
      await rejects(store.delete("base"), "NOT_FOUND", /no rootfs named "base"/);
      throwsCode(() => store.acquire("../etc", "job-c"), "INVALID_ARGUMENT", /invalid rootfs name/);
    });
  },
);

rootTest("delete and acquire cannot interleave: a delete that started wins at once", async () => {
  await withStore(async (store) => {
    await store.upload(chunksOf(await simpleTree("x\n")), { name: "gone" });
    const deleting = store.delete("gone");
    // Synchronously after the call, before the tree is removed from disk.
    throwsCode(() => store.acquire("gone", "job-late"), "NOT_FOUND", /no rootfs named "gone"/);
    await deleting;
  });
});

rootTest("two concurrent uploads of one name: exactly one wins", async () => {
  const tarballPath = await busyboxTarball();
  await withStore(async (store, dir) => {
    const results = await Promise.allSettled([
      store.upload(fileChunks(tarballPath), { name: "race" }),
      store.upload(fileChunks(tarballPath), { name: "race" }),
    ]);
    const won = results.filter((result) => result.status === "fulfilled");
    const lost = results.filter((result) => result.status === "rejected");
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    const reason = (lost[0] as PromiseRejectedResult).reason;
    assert.ok(reason instanceof IjrError);
    assert.equal(reason.code, "ABORTED");
    assert.match(reason.message, /an upload of rootfs "race" is already in progress/);
    assert.deepEqual(await storeEntries(dir), ["race"]);
    // While an upload runs, its name cannot be leased yet.
    const source = gatedSource(await simpleTree("v\n"), 8);
    const pending = store.upload(source.chunks(), { name: "later" });
    throwsCode(() => store.acquire("later", "j"), "NOT_FOUND", /no rootfs named "later"/);
    for (let i = 0; i < 100; i++) source.step();
    await pending;
    assert.equal(store.acquire("later", "j").name, "later");
  });
});

rootTest(
  "a source that throws midway (client gone) leaves nothing and frees the name",
  async () => {
    await withStore(async (store, dir) => {
      const bytes = await gzip(
        buildTar(
          Array.from(
            { length: 200 },
            (_, i) => ({ name: `f${i}`, data: `file ${i}\n`.repeat(300) }),
          ),
        ),
      );
      const source = gatedSource(bytes, 1024);
      const upload = store.upload(source.chunks(), { name: "partial" });
      for (let i = 0; i < 5; i++) source.step();
      await until(() => source.delivered === 5, "five chunks to be read");
      // Mid-upload: the temp folder exists, nothing is listed.
      const during = await storeEntries(dir);
      assert.equal(during.length, 1);
      assert.match(during[0], /^\.tmp-[0-9a-f]{16}$/);
      assert.deepEqual(store.list(), []);
      const disconnect = new Error("client disconnected");
      source.failNext(disconnect);
      await assert.rejects(upload, (error) => error === disconnect);
      assert.deepEqual(await storeEntries(dir), []);
      assert.deepEqual(store.list(), []);
      await store.upload(chunksOf(bytes), { name: "partial" });
      assert.equal(store.get("partial").entries, 200);
    });
  },
);

rootTest(
  "an upload killed with its process leaves a temp folder the next open removes",
  async () => {
    const tarballPath = await busyboxTarball();
    await withStore(async (_store, dir) => {
      // A stale deletion and a foreign folder next to it.
      await Deno.mkdir(join(dir, ".del-0123456789abcdef", "rootfs"), { recursive: true });
      await Deno.mkdir(join(dir, "handmade"));
      const storeModule = new URL("../../lib/rootfs/mod.ts", import.meta.url).href;
      const code = `
      import { RootfsStore } from ${JSON.stringify(storeModule)};
      const store = await RootfsStore.open({ dir: ${JSON.stringify(dir)} });
      const bytes = await Deno.readFile(${JSON.stringify(tarballPath)});
      async function* chunks() {
        for (let at = 0; at < bytes.length; at += 65536) {
          yield bytes.subarray(at, at + 65536);
          if (at >= bytes.length / 2) {
            console.log("HALF");
            await new Promise((resolve) => setTimeout(resolve, 600_000));
          }
        }
      }
      await store.upload(chunks(), { name: "killed" });
    `;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=ts", code],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      try {
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let seen = "";
        while (!seen.includes("HALF")) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`child ended before HALF: ${seen}`);
          seen += value;
        }
        reader.releaseLock();
      } finally {
        child.kill("SIGKILL");
        await child.status;
        await child.stdout.cancel().catch(() => {});
      }
      const left = await storeEntries(dir);
      assert.equal(left.length, 2);
      assert.equal(left[1], "handmade");
      assert.match(left[0], /^\.tmp-[0-9a-f]{16}$/);
      assert.ok((await Array.fromAsync(Deno.readDir(join(dir, left[0], "rootfs")))).length > 0);

      const reopened = await RootfsStore.open({ dir });
      assert.deepEqual(await storeEntries(dir), ["handmade"]);
      assert.deepEqual(reopened.list(), []);
      // A folder ijrd did not make is neither listed nor overwritten.
      await rejects(
        reopened.upload(chunksOf(await simpleTree("h\n")), { name: "handmade" }),
        "ALREADY_EXISTS",
        /handmade exists but was not uploaded through ijrd/,
      );
    });
  },
);

rootTest("announced size and sha256 are checked; bad values are INVALID_ARGUMENT", async () => {
  await withStore(async (store, dir) => {
    const bytes = await simpleTree("s\n");
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const ok = await store.upload(chunksOf(bytes), { name: "good", size: bytes.length, sha256 });
    assert.equal(ok.compressedBytes, bytes.length);
    await rejects(
      store.upload(chunksOf(bytes), { name: "short", size: bytes.length + 1 }),
      "INVALID_ARGUMENT",
      new RegExp(`^size mismatch: ${bytes.length} bytes were received, ${bytes.length + 1} were`),
    );
    await rejects(
      store.upload(chunksOf(bytes), { name: "long", size: bytes.length - 1 }),
      "INVALID_ARGUMENT",
      /^size mismatch: more than the announced/,
    );
    const wrong = "0".repeat(64);
    await rejects(
      store.upload(chunksOf(bytes), { name: "hash", sha256: wrong }),
      "INVALID_ARGUMENT",
      new RegExp(`^sha256 mismatch: the received bytes hash to ${sha256}, ${wrong} was announced$`),
    );
    await rejects(
      store.upload(chunksOf(bytes), { name: "hash", sha256: "ABC" }),
      "INVALID_ARGUMENT",
      /^invalid sha256/,
    );
    await rejects(
      store.upload(chunksOf(bytes), { name: "Bad/Name" }),
      "INVALID_ARGUMENT",
      /invalid rootfs name/,
    );
    assert.deepEqual(await storeEntries(dir), ["good"]);
  });
});

rootTest("limits: entries, extracted size, path length", async () => {
  await withStore(async (store, dir) => {
    const many = await tarball(
      Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, data: "x" })),
    );
    await rejects(
      store.upload(chunksOf(many), { name: "many" }),
      "RESOURCE_EXHAUSTED",
      /^the archive has more than 10 members \(the entry limit\)$/,
    );
    const big = await tarball([{ name: "big", data: new Uint8Array(5000) }]);
    await rejects(
      store.upload(chunksOf(big), { name: "big" }),
      "RESOURCE_EXHAUSTED",
      /extracted-size limit of 4096 bytes/,
    );
    const deep = await tarball([{ name: "d/".repeat(40) + "f", data: "x" }]);
    await rejects(
      store.upload(chunksOf(deep), { name: "deep" }),
      "RESOURCE_EXHAUSTED",
      /longer than the limit of 64 bytes/,
    );
    assert.deepEqual(await storeEntries(dir), []);
  }, { limits: { maxEntries: 10, maxExtractedBytes: 4096, maxPathBytes: 64 } });
});

rootTest(
  "limits: the compressed size, counted as bytes arrive and checked when announced",
  async () => {
    await withStore(async (store, dir) => {
      const noise = crypto.getRandomValues(new Uint8Array(20_000));
      const incompressible = await tarball([{ name: "noise", data: noise }]);
      await rejects(
        store.upload(chunksOf(incompressible, 1000), { name: "fat" }),
        "RESOURCE_EXHAUSTED",
        /^the compressed tarball exceeds the limit of 8192 bytes$/,
      );
      await rejects(
        store.upload(chunksOf(incompressible), { name: "announced", size: 9000 }),
        "RESOURCE_EXHAUSTED",
        /^the tarball is 9000 bytes; the limit is 8192$/,
      );
      assert.deepEqual(await storeEntries(dir), []);
    }, { limits: { maxCompressedBytes: 8192 } });
  },
);
