/** libijr's atomic small-file replacement, called on Deno's blocking pool. */
import assert from "node:assert/strict";
import { writeFileAtomic } from "../../lib/native/record_file.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("record file: written whole, then replaced whole, with its mode; no temp left", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr-record-" });
  try {
    await writeFileAtomic(`${dir}/job.json`, `${dir}/job.json.tmp`, bytes("first\n"), {
      mode: 0o640,
    });
    assert.equal(Deno.readTextFileSync(`${dir}/job.json`), "first\n");
    assert.equal(Deno.statSync(`${dir}/job.json`).mode! & 0o777, 0o640);
    // A temp file made ahead (empty) is truncated and used.
    Deno.writeTextFileSync(`${dir}/ahead`, "stale content longer than the record");
    const big = "x".repeat(200_000);
    await writeFileAtomic(`${dir}/job.json`, `${dir}/ahead`, bytes(big));
    assert.equal(Deno.readTextFileSync(`${dir}/job.json`), big);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["job.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("record file: the room for a later record is taken with the first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr-record-" });
  try {
    await writeFileAtomic(`${dir}/job.json`, `${dir}/job.json.tmp`, bytes("first\n"), {
      reserve: { path: `${dir}/job.json.final`, bytes: 5000 },
    });
    assert.equal(Deno.readTextFileSync(`${dir}/job.json`), "first\n");
    assert.equal(Deno.readTextFileSync(`${dir}/job.json.final`), " ".repeat(5000));
    // Its blocks are allocated, not a hole: 5000 bytes take at least 10 sectors of 512.
    assert.ok(Deno.statSync(`${dir}/job.json.final`).blocks! >= 10);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("record file: failures name the path and the reason, and change nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr-record-" });
  try {
    await assert.rejects(
      writeFileAtomic(`${dir}/gone/job.json`, `${dir}/gone/job.json.tmp`, bytes("x")),
      { message: `cannot write ${dir}/gone/job.json: no such file or directory (ENOENT)` },
    );
    // The target is a folder: the rename fails, the old target and no temp remain.
    Deno.mkdirSync(`${dir}/job.json`);
    await assert.rejects(
      writeFileAtomic(`${dir}/job.json`, `${dir}/job.json.tmp`, bytes("x")),
      { message: `cannot write ${dir}/job.json: is a directory (EISDIR)` },
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["job.json"]);
    assert.ok(Deno.statSync(`${dir}/job.json`).isDirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("record file: the replaced file stays open until released, then is freed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr-record-" });
  // What this process holds of `dir`, as /proc/self/fd shows it.
  const held = () =>
    [...Deno.readDirSync("/proc/self/fd")].flatMap((entry) => {
      try {
        const target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
        return target.startsWith(dir) ? [target] : [];
      } catch {
        return []; // the listing's own descriptor
      }
    });
  try {
    // Nothing to replace: nothing held.
    assert.equal(
      await writeFileAtomic(`${dir}/job.json`, `${dir}/t1`, bytes("first\n"), {
        holdReplaced: true,
      }),
      undefined,
    );
    const firstInode = Deno.statSync(`${dir}/job.json`).ino;
    const replaced = await writeFileAtomic(`${dir}/job.json`, `${dir}/t2`, bytes("final\n"), {
      holdReplaced: true,
    });
    assert.ok(replaced);
    assert.equal(Deno.readTextFileSync(`${dir}/job.json`), "final\n");
    assert.notEqual(Deno.statSync(`${dir}/job.json`).ino, firstInode);
    assert.deepEqual(held(), [`${dir}/job.json (deleted)`]);
    await replaced.release();
    await replaced.release(); // once only
    assert.deepEqual(held(), []);
    // Without holdReplaced, nothing is kept.
    await writeFileAtomic(`${dir}/job.json`, `${dir}/t3`, bytes("again\n"));
    assert.deepEqual(held(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
