/**
 * Hostile tarballs. Each is either rejected with a clear error or confined to the new root,
 * and a canary file planted outside the store is proven untouched afterwards: same content,
 * same mtime, still one link, and nothing new beside it. A failed upload leaves nothing in
 * the store.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { IjrError } from "../../lib/errors/mod.ts";
import { RootfsStore, type RootfsStoreOptions } from "../../lib/rootfs/mod.ts";
import { rootTest } from "../helpers/root.ts";
import { buildTar, chunksOf, gzip, paxMember, type TarMember } from "../helpers/tar_writer.ts";

const CANARY_TEXT = "canary: must never change\n";
const CANARY_MTIME = new Date(1_000_000_000_000);
const UP = "../".repeat(16);

interface Canary {
  dir: string;
  /** dir without its leading '/', as archives spell in-root paths. */
  rel: string;
  file: string;
}

async function plantCanary(): Promise<Canary> {
  const dir = await Deno.makeTempDir({ prefix: "ijr-canary-" });
  const file = join(dir, "canary");
  await Deno.writeTextFile(file, CANARY_TEXT);
  await Deno.utime(file, CANARY_MTIME, CANARY_MTIME);
  await Deno.utime(dir, CANARY_MTIME, CANARY_MTIME);
  return { dir, rel: dir.slice(1), file };
}

async function assertCanaryUntouched(canary: Canary): Promise<void> {
  assert.equal(await Deno.readTextFile(canary.file), CANARY_TEXT);
  const stat = await Deno.lstat(canary.file);
  assert.ok(stat.isFile);
  assert.equal(stat.mtime!.getTime(), CANARY_MTIME.getTime());
  assert.equal(stat.nlink, 1, "a hard link to the canary was made");
  assert.equal((await Deno.lstat(canary.dir)).mtime!.getTime(), CANARY_MTIME.getTime());
  const names = (await Array.fromAsync(Deno.readDir(canary.dir))).map((entry) => entry.name);
  assert.deepEqual(names, ["canary"]);
}

interface Case {
  name: string;
  /** The archive's members, or the exact upload bytes. */
  archive: (canary: Canary) => TarMember[] | Promise<Uint8Array>;
  /** Rejected: the status code and message. */
  rejected?: { code: string; message: RegExp | ((canary: Canary) => RegExp) };
  /** Confined: checks on the extracted tree. */
  confined?: (tree: string, canary: Canary) => Promise<void>;
  limits?: RootfsStoreOptions["limits"];
}

async function readText(path: string): Promise<string> {
  return await Deno.readTextFile(path);
}

const CASES: Case[] = [
  {
    name: "../ paths land inside the root",
    archive: (c) => [
      { name: `${UP}${c.rel}/canary`, data: "pwned\n" },
      { name: "../escape-top", data: "top\n" },
    ],
    confined: async (tree, c) => {
      assert.equal(await readText(join(tree, c.rel, "canary")), "pwned\n");
      assert.equal(await readText(join(tree, "escape-top")), "top\n");
    },
  },
  {
    name: "absolute paths land inside the root",
    archive: (c) => [{ name: `${c.dir}/canary`, data: "pwned\n" }],
    confined: async (tree, c) => {
      assert.equal(await readText(join(tree, c.rel, "canary")), "pwned\n");
    },
  },
  {
    name: "a symlink to / and a file written through it land inside the root",
    archive: (c) => [
      { name: "root-link", type: "2", link: "/" },
      { name: `root-link/${c.rel}/canary`, data: "pwned\n" },
      { name: `root-link/${UP}${c.rel}/canary2`, data: "pwned2\n" },
    ],
    confined: async (tree, c) => {
      assert.equal(await Deno.readLink(join(tree, "root-link")), "/");
      assert.equal(await readText(join(tree, c.rel, "canary")), "pwned\n");
      assert.equal(await readText(join(tree, c.rel, "canary2")), "pwned2\n");
    },
  },
  {
    name: "a symlink chain that ends outside: the outside directory does not exist inside",
    archive: (c) => [
      { name: "a", type: "2", link: "b" },
      { name: "b", type: "2", link: `${UP}${c.rel}` },
      { name: "a/canary", data: "pwned\n" },
    ],
    rejected: {
      code: "INVALID_ARGUMENT",
      message: /cannot open the parent of "\/a\/canary": No such file or directory/,
    },
  },
  {
    name: "a symlink chain that ends outside resolves to the same path inside",
    archive: (c) => [
      { name: `${c.rel}/`, type: "5" },
      { name: "a", type: "2", link: "b" },
      { name: "b", type: "2", link: `${UP}${c.rel}` },
      { name: "a/canary", data: "pwned\n" },
    ],
    confined: async (tree, c) => {
      assert.equal(await readText(join(tree, c.rel, "canary")), "pwned\n");
    },
  },
  {
    name: "a hard link to a host file by absolute path",
    archive: (c) => [{ name: "stolen", type: "1", link: `${c.dir}/canary` }],
    rejected: {
      code: "INVALID_ARGUMENT",
      message: (c) =>
        new RegExp(`hard link "/stolen": target "${c.dir}/canary" is not in the archive`),
    },
  },
  {
    name: "a hard link to a host file by ../ path",
    archive: (c) => [{ name: "stolen", type: "1", link: `${UP}${c.rel}/canary` }],
    rejected: {
      code: "INVALID_ARGUMENT",
      message: /hard link "\/stolen": target .* is not in the archive/,
    },
  },
  {
    name: "a hard link through a symlink to /",
    archive: (c) => [
      { name: "s", type: "2", link: "/" },
      { name: "stolen", type: "1", link: `s/${c.rel}/canary` },
    ],
    rejected: { code: "INVALID_ARGUMENT", message: /is not in the archive/ },
  },
  {
    name: "a hard link to a symlink that points outside links the symlink, not its target",
    archive: (c) => [
      { name: "s", type: "2", link: `${c.dir}/canary` },
      { name: "h", type: "1", link: "s" },
      { name: "h", data: "replaces the link, not the canary\n" },
    ],
    confined: async (tree, c) => {
      assert.equal(await Deno.readLink(join(tree, "s")), `${c.dir}/canary`);
      assert.equal(await readText(join(tree, "h")), "replaces the link, not the canary\n");
      assert.equal((await Deno.lstat(join(tree, "s"))).nlink, 1);
    },
  },
  {
    name: "a directory replaced by a symlink midway is refused",
    archive: (c) => [
      { name: "d/", type: "5" },
      { name: "d/a", data: "a\n" },
      { name: "d", type: "2", link: c.dir },
      { name: "d/canary", data: "pwned\n" },
    ],
    rejected: { code: "INVALID_ARGUMENT", message: /cannot create symlink "\/d": Is a directory/ },
  },
  {
    name: "a directory entry over a symlink is refused",
    archive: (c) => [
      { name: "etc", type: "2", link: c.dir },
      { name: "etc/", type: "5" },
    ],
    rejected: { code: "INVALID_ARGUMENT", message: /directory "\/etc" is already a non-directory/ },
  },
  {
    name: "a file over a planted symlink replaces the symlink",
    archive: (c) => [
      { name: "etc/", type: "5" },
      { name: "etc/passwd", type: "2", link: `${c.dir}/canary` },
      { name: "etc/passwd", data: "root:x:0:0::/root:/bin/sh\n" },
    ],
    confined: async (tree) => {
      const stat = await Deno.lstat(join(tree, "etc/passwd"));
      assert.ok(stat.isFile);
      assert.equal(await readText(join(tree, "etc/passwd")), "root:x:0:0::/root:/bin/sh\n");
    },
  },
  {
    name: "a symlink re-pointed midway: later entries follow the new target",
    archive: () => [
      { name: "x/", type: "5" },
      { name: "y/", type: "5" },
      { name: "s", type: "2", link: "x" },
      { name: "s/one", data: "1" },
      { name: "s", type: "2", link: "/y" },
      { name: "s/two", data: "2" },
    ],
    confined: async (tree) => {
      assert.deepEqual((await Array.fromAsync(Deno.readDir(join(tree, "x")))).map((e) => e.name), [
        "one",
      ]);
      assert.deepEqual((await Array.fromAsync(Deno.readDir(join(tree, "y")))).map((e) => e.name), [
        "two",
      ]);
    },
  },
  {
    name: "a hard link to a directory",
    archive: () => [{ name: "d/", type: "5" }, { name: "dl", type: "1", link: "d" }],
    rejected: {
      code: "INVALID_ARGUMENT",
      message: /cannot create hard link "\/dl" -> "\/d": Operation not permitted/,
    },
  },
  {
    name: "a member path ending in ..",
    archive: () => [{ name: "a/..", type: "0", data: "x" }],
    rejected: { code: "INVALID_ARGUMENT", message: /has path "a\/\.\." ending in "\.\."/ },
  },
  {
    name: "a PAX path with a NUL byte",
    archive: (
      c,
    ) => [paxMember({ path: `innocent\u0000${c.dir}/canary` }), { name: "x", data: "x" }],
    rejected: { code: "INVALID_ARGUMENT", message: /path containing a NUL byte/ },
  },
  {
    name: "a huge declared size",
    archive: () => [{ name: "huge", size: 2n ** 40n }],
    rejected: {
      code: "RESOURCE_EXHAUSTED",
      message: /extracted-size limit of 8589934592 bytes \(member at byte 0 declares 1099511627776/,
    },
  },
  {
    name: "a huge PAX size",
    archive: () => [paxMember({ size: "99999999999999" }), { name: "huge" }],
    rejected: { code: "RESOURCE_EXHAUSTED", message: /declares 99999999999999 bytes/ },
  },
  {
    // Through the daemon's path with its default limits (500,000 entries): the old parser
    // stepped back over this header and re-read it until the daemon ran out of memory.
    name: "a header with a negative base-256 size",
    archive: () => [{ name: "evil", size: -512 }],
    rejected: {
      code: "INVALID_ARGUMENT",
      message:
        /^corrupt tar archive at byte 0: member "evil" has size -512, out of range 0\.\.9007199254740991$/,
    },
  },
  {
    name: "a PAX header with a negative base-256 size",
    archive: () => [{ name: "PaxHeader", type: "x", size: -1024 }, { name: "after" }],
    rejected: {
      code: "INVALID_ARGUMENT",
      message:
        /^corrupt tar archive at byte 0: member "PaxHeader" has size -1024, out of range 0\.\.9007199254740991$/,
    },
  },
  {
    name: "a tarball that is not gzipped",
    archive: () => Promise.resolve(buildTar([{ name: "./x", data: "x" }])),
    rejected: {
      code: "INVALID_ARGUMENT",
      message: /^not a gzip file \(it starts with 0x2e 0x2f, not 0x1f 0x8b\): upload a gzip/,
    },
  },
  {
    name: "an empty file",
    archive: () => Promise.resolve(new Uint8Array(0)),
    rejected: { code: "INVALID_ARGUMENT", message: /^empty upload: no bytes were received$/ },
  },
  {
    name: "gzipped text that is not a tar",
    archive: () => gzip(new TextEncoder().encode("just some text\n".repeat(100))),
    rejected: {
      code: "INVALID_ARGUMENT",
      message: /^not a tar archive: the first header's checksum/,
    },
  },
  {
    name: "a gzip with an empty tar",
    archive: () => gzip(new Uint8Array(10240)),
    rejected: { code: "INVALID_ARGUMENT", message: /^the archive has no members$/ },
  },
  {
    name: "a truncated archive (valid gzip, tar cut inside a file)",
    archive: () => gzip(buildTar([{ name: "f", data: "y".repeat(5000) }]).subarray(0, 3000)),
    rejected: {
      code: "INVALID_ARGUMENT",
      message: /^truncated tar archive: it ends at byte 3000, inside the data of the member/,
    },
  },
  {
    name: "a truncated gzip",
    archive: async () =>
      (await gzip(buildTar([{ name: "f", data: "z".repeat(5000) }]))).subarray(0, 40),
    rejected: { code: "INVALID_ARGUMENT", message: /^corrupt gzip data after 40 bytes/ },
  },
  {
    name: "a corrupt gzip (wrong CRC)",
    archive: async () => {
      const bytes = await gzip(buildTar([{ name: "f", data: "crc" }]));
      bytes[bytes.length - 8] ^= 0xff;
      return bytes;
    },
    rejected: {
      code: "INVALID_ARGUMENT",
      message:
        /^corrupt gzip data after \d+ bytes: corrupt gzip stream does not have a matching checksum$/,
    },
  },
  {
    name: "concatenated gzip members (data after the first gzip stream)",
    archive: async () => {
      const first = await gzip(buildTar([{ name: "f", data: "1" }]));
      const second = await gzip(buildTar([{ name: "g", data: "2" }]));
      return new Uint8Array([...first, ...second]);
    },
    rejected: {
      code: "INVALID_ARGUMENT",
      message: /there is data after the end of the gzip stream \(concatenated gzip members/,
    },
  },
  {
    name: "a corrupt gzip (garbage in the deflate stream)",
    archive: async () => {
      const bytes = await gzip(
        buildTar([{ name: "f", data: crypto.getRandomValues(new Uint8Array(4000)) }]),
      );
      bytes.fill(0xff, 30, 200);
      return bytes;
    },
    rejected: { code: "INVALID_ARGUMENT", message: /^corrupt (gzip data|tar archive)/ },
  },
];

async function withCanaryAndStore(
  fn: (store: RootfsStore, storeDir: string, canary: Canary) => Promise<void>,
  limits?: RootfsStoreOptions["limits"],
): Promise<void> {
  const canary = await plantCanary();
  const dir = await Deno.makeTempDir({ prefix: "ijr-rootfs-hostile-" });
  try {
    const storeDir = join(dir, "store");
    const store = await RootfsStore.open({ dir: storeDir, limits, durable: false });
    await fn(store, storeDir, canary);
    await assertCanaryUntouched(canary);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(canary.dir, { recursive: true });
  }
}

for (const [index, testCase] of CASES.entries()) {
  rootTest(`hostile tarball: ${testCase.name}`, async () => {
    await withCanaryAndStore(async (store, storeDir, canary) => {
      const archive = testCase.archive(canary);
      const bytes = Array.isArray(archive) ? await gzip(buildTar(archive)) : await archive;
      const name = `case-${index}`;
      const upload = store.upload(chunksOf(bytes, 4096), { name });
      if (testCase.rejected) {
        const { code, message } = testCase.rejected;
        const pattern = typeof message === "function" ? message(canary) : message;
        await assert.rejects(upload, (error: unknown) => {
          assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
          assert.equal(error.code, code, error.message);
          assert.match(error.message, pattern);
          return true;
        });
        assert.deepEqual(await Array.fromAsync(Deno.readDir(storeDir)), []);
        assert.deepEqual(store.list(), []);
      } else {
        await upload;
        await testCase.confined!(store.treePath(name), canary);
        assert.deepEqual(store.list().map((info) => info.name), [name]);
      }
    }, testCase.limits);
  });
}

/** A gzipped tar of `files` files of `fileBytes` zeros each, compressed as it is generated
 * (the archive itself is never in memory: 1000:1 is what a bomb is about). */
async function zeroBomb(files: number, fileBytes: number, trailingZeros = 0): Promise<Uint8Array> {
  const zeros = new Uint8Array(1 << 20);
  async function* tar(): AsyncGenerator<Uint8Array<ArrayBuffer>> {
    for (let i = 0; i < files; i++) {
      yield buildTar([{ name: `zero-${i}`, size: fileBytes }], { end: false }) as Uint8Array<
        ArrayBuffer
      >;
      for (let left = fileBytes; left > 0; left -= zeros.length) {
        yield zeros.subarray(0, Math.min(left, zeros.length));
      }
    }
    yield new Uint8Array(1024);
    for (let left = trailingZeros; left > 0; left -= zeros.length) {
      yield zeros.subarray(0, Math.min(left, zeros.length));
    }
  }
  const stream = ReadableStream.from(tar()).pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

rootTest(
  "a gzip bomb stops at the extracted-size limit, long before the end of the input",
  async () => {
    // 256 MiB of zeros in 64 files, ~250 KiB compressed; the limit is 16 MiB.
    const bomb = await zeroBomb(64, 4 << 20);
    assert.ok(bomb.length < 1 << 20);
    await withCanaryAndStore(async (store, storeDir) => {
      let consumed = 0;
      async function* counted(): AsyncGenerator<Uint8Array> {
        for await (const chunk of chunksOf(bomb, 4096)) {
          consumed += chunk.length;
          yield chunk;
        }
      }
      await assert.rejects(store.upload(counted(), { name: "bomb" }), (error: unknown) => {
        assert.ok(error instanceof IjrError);
        assert.equal(error.code, "RESOURCE_EXHAUSTED");
        assert.match(
          error.message,
          /^tar archive content exceeds the extracted-size limit of 16777216 bytes \(member at byte 16779264 declares 4194304 bytes\)$/,
        );
        return true;
      });
      // The fifth file's header stopped it: about 5/64 of the input was read.
      assert.ok(consumed < bomb.length / 4, `read ${consumed} of ${bomb.length} bytes`);
      assert.deepEqual(await Array.fromAsync(Deno.readDir(storeDir)), []);
    }, { maxExtractedBytes: 16 << 20 });
  },
);

rootTest("a bomb hidden after the end-of-archive block is cut off", async () => {
  const bomb = await zeroBomb(1, 10, 64 << 20);
  await withCanaryAndStore(async (store, storeDir) => {
    await assert.rejects(store.upload(chunksOf(bomb), { name: "trailer" }), (error: unknown) => {
      assert.ok(error instanceof IjrError);
      assert.equal(error.code, "INVALID_ARGUMENT");
      assert.match(error.message, /more than 16777216 bytes after its end-of-archive block/);
      return true;
    });
    assert.deepEqual(await Array.fromAsync(Deno.readDir(storeDir)), []);
  });
});
