import assert from "node:assert/strict";
import { join } from "node:path";
import { IjrError } from "../../lib/errors/mod.ts";
import { type TarEntry, TarParser, type TarParserOptions } from "../../lib/rootfs/tar_parser.ts";
import {
  buildTar,
  fixChecksum,
  paxMember,
  putField,
  tarHeader,
  type TarMember,
} from "../helpers/tar_writer.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Parsed extends TarEntry {
  data: Uint8Array;
  ended: boolean;
}

const LIMITS: TarParserOptions = { maxPathBytes: 4096, maxContentBytes: 1 << 30 };

/** Parses bytes fed in chunks of chunkSize and returns every member with its data. */
function parse(bytes: Uint8Array, chunkSize = bytes.length || 1, options = LIMITS): Parsed[] {
  const out: Parsed[] = [];
  const parser = new TarParser({
    entry(entry) {
      out.push({ ...entry, data: new Uint8Array(0), ended: false });
    },
    data(chunk) {
      const last = out[out.length - 1];
      const joined = new Uint8Array(last.data.length + chunk.length);
      joined.set(last.data);
      joined.set(chunk, last.data.length);
      last.data = joined;
    },
    entryEnd() {
      out[out.length - 1].ended = true;
    },
  }, options);
  for (let at = 0; at < bytes.length; at += chunkSize) {
    parser.push(bytes.subarray(at, at + chunkSize));
  }
  parser.finish();
  return out;
}

function text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

function assertIjrError(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

async function run(cmd: string, args: string[], cwd?: string): Promise<Uint8Array> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${decoder.decode(out.stderr)}`);
  return out.stdout;
}

/** A small tree made on disk, archived by GNU tar in the given format. */
async function gnuTarOf(format: "gnu" | "posix" | "ustar"): Promise<{
  archive: Uint8Array;
  longDir: string;
  longFile: string;
  mediumFile: string;
}> {
  const dir = await Deno.makeTempDir({ prefix: "ijr-tar-parser-" });
  try {
    // 150 + 130 bytes: past ustar's 100-byte name and its 255-byte prefix+name.
    const longDir = `d${"a".repeat(149)}`;
    const longFile = `${longDir}/${"b".repeat(130)}`;
    // 181 bytes: ustar splits it into its prefix and name fields.
    const mediumFile = `${"m".repeat(90)}/${"n".repeat(90)}`;
    await Deno.mkdir(join(dir, "tree", longDir), { recursive: true });
    await Deno.mkdir(join(dir, "tree", "m".repeat(90)));
    await Deno.writeTextFile(join(dir, "tree", mediumFile), "medium\n");
    await Deno.writeTextFile(join(dir, "tree", "hello.txt"), "hello, world\n");
    await Deno.writeTextFile(join(dir, "tree", longFile), "long\n");
    await Deno.symlink("/bin/busybox", join(dir, "tree", "sh"));
    await Deno.link(join(dir, "tree", "hello.txt"), join(dir, "tree", "hello-link"));
    await Deno.chmod(join(dir, "tree", "hello.txt"), 0o4755);
    await run("touch", [
      "-h",
      "-d",
      "@1600000000",
      ...["hello.txt", "sh", longFile].map((p) => join(dir, "tree", p)),
    ]);
    const archive = await run("tar", [
      `--format=${format}`,
      "--sort=name",
      "--owner=1234",
      "--group=5678",
      "--numeric-owner",
      "-C",
      join(dir, "tree"),
      "-cf",
      "-",
      "hello.txt",
      "hello-link",
      "sh",
      mediumFile,
      ...(format === "ustar" ? [] : [longFile]),
    ]);
    return { archive, longDir, longFile, mediumFile };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const format of ["gnu", "posix", "ustar"] as const) {
  Deno.test(`parses a GNU tar --format=${format} archive: files, hardlink, symlink, long names`, async () => {
    const { archive, longFile, mediumFile } = await gnuTarOf(format);
    // Whole, and one byte at a time: chunk boundaries must not matter.
    for (const chunkSize of [archive.length, 1, 511, 513]) {
      const entries = parse(archive, chunkSize);
      const byPath = new Map(entries.map((entry) => [text(entry.path), entry]));
      const hello = byPath.get("hello.txt")!;
      assert.equal(hello.type, "file");
      assert.equal(hello.mode, 0o4755);
      assert.equal(hello.uid, 1234);
      assert.equal(hello.gid, 5678);
      assert.equal(hello.mtimeSec, 1600000000);
      assert.equal(hello.size, 13);
      assert.equal(text(hello.data), "hello, world\n");
      assert.ok(hello.ended);
      const link = byPath.get("hello-link")!;
      assert.equal(link.type, "hardlink");
      assert.equal(text(link.linkPath), "hello.txt");
      const sh = byPath.get("sh")!;
      assert.equal(sh.type, "symlink");
      assert.equal(text(sh.linkPath), "/bin/busybox");
      assert.equal(sh.mtimeSec, 1600000000);
      assert.equal(text(byPath.get(mediumFile)!.data), "medium\n");
      if (format !== "ustar") {
        const long = byPath.get(longFile)!;
        assert.equal(long.type, "file");
        assert.equal(text(long.data), "long\n");
        assert.equal(entries.length, 5);
      } else {
        assert.equal(entries.length, 4);
      }
    }
  });
}

Deno.test("ustar prefix field joins with the name", () => {
  const header = tarHeader({ name: "file.txt", data: "x" });
  header.set(encoder.encode("some/prefix"), 345);
  // Recompute the checksum after editing the header.
  header.fill(0x20, 148, 156);
  const sum = header.reduce((total, byte) => total + byte, 0);
  header.set(encoder.encode(`${sum.toString(8).padStart(6, "0")}\u0000 `), 148);
  const archive = new Uint8Array(512 * 4);
  archive.set(header);
  archive[512] = 0x78;
  const [entry] = parse(archive);
  assert.equal(text(entry.path), "some/prefix/file.txt");
  assert.equal(text(entry.data), "x");
});

Deno.test("PAX headers override path, linkpath, size, mtime, uid and gid; global ones persist", () => {
  const longPath = `${"p".repeat(200)}/${"q".repeat(200)}`;
  const archive = buildTar([
    paxMember({ uid: "4000000000", gid: "77", comment: "ignored" }, true),
    paxMember({ path: longPath, mtime: "1700000000.123456789", uid: "42" }),
    { name: "short", data: "abc" },
    paxMember({ linkpath: `/${"t".repeat(300)}`, mtime: "-1.25" }),
    { name: "link", type: "2", link: "short-target" },
    // An empty value removes the global setting: the header's gid applies again.
    paxMember({ gid: "" }),
    { name: "plain", type: "5", gid: 9 },
  ]);
  const [file, link, dir] = parse(archive, 100);
  assert.equal(text(file.path), longPath);
  assert.equal(file.uid, 42);
  assert.equal(file.gid, 77);
  assert.equal(file.mtimeSec, 1700000000);
  assert.equal(file.mtimeNsec, 123456789);
  assert.equal(text(file.data), "abc");
  assert.equal(text(link.linkPath), `/${"t".repeat(300)}`);
  assert.equal(link.uid, 4000000000);
  assert.equal(link.mtimeSec, -2);
  assert.equal(link.mtimeNsec, 750000000);
  assert.equal(dir.type, "directory");
  assert.equal(dir.gid, 9);
  assert.equal(dir.uid, 4000000000);
});

Deno.test("PAX size replaces the header size (files over 8 GiB carry it this way)", () => {
  const archive = buildTar([
    paxMember({ size: "5" }),
    { name: "f", data: "12345", size: 0 },
  ]);
  const [entry] = parse(archive);
  assert.equal(entry.size, 5);
  assert.equal(text(entry.data), "12345");
});

Deno.test("GNU base-256 numbers: large uid, negative mtime", () => {
  // 4000000000 does not fit the 7 octal digits of the uid field: tar writes it in base-256.
  const archive = buildTar([
    { name: "f", uid: 4_000_000_000, mtime: -86400, magic: "gnu" },
  ]);
  const [entry] = parse(archive);
  assert.equal(entry.uid, 4_000_000_000);
  assert.equal(entry.mtimeSec, -86400);
});

Deno.test("GNU long name and long link ('L' and 'K') apply to the next member only", () => {
  const name = `${"n".repeat(300)}`;
  const target = `${"k".repeat(200)}`;
  const archive = buildTar([
    { name: "././@LongLink", type: "L", data: `${name}\u0000`, magic: "gnu" },
    { name: "truncated-name", type: "0", data: "x", magic: "gnu" },
    { name: "././@LongLink", type: "K", data: `${target}\u0000`, magic: "gnu" },
    { name: "sym", type: "2", link: "truncated", magic: "gnu" },
    { name: "after", type: "0", magic: "gnu" },
  ]);
  const [file, sym, after] = parse(archive, 7);
  assert.equal(text(file.path), name);
  assert.equal(text(sym.path), "sym");
  assert.equal(text(sym.linkPath), target);
  assert.equal(text(after.path), "after");
});

Deno.test("device nodes and FIFOs are reported with their numbers", () => {
  const archive = buildTar([
    { name: "dev/null", type: "3", devMajor: 1, devMinor: 3 },
    { name: "dev/loop0", type: "4", devMajor: 7, devMinor: 0 },
    { name: "fifo", type: "6" },
    { name: "dir", type: "5" },
    { name: "after", data: "z" },
  ]);
  const entries = parse(archive);
  assert.deepEqual(
    entries.map((e) => [text(e.path), e.type, e.devMajor, e.devMinor, e.data.length]),
    [
      ["dev/null", "character-device", 1, 3, 0],
      ["dev/loop0", "block-device", 7, 0, 0],
      ["fifo", "fifo", 0, 0, 0],
      ["dir", "directory", 0, 0, 0],
      ["after", "file", 0, 0, 1],
    ],
  );
});

Deno.test("links, directories, devices and FIFOs carry no data whatever their size field says", () => {
  // POSIX stores no data for these types, and GNU tar and libarchive read none: a parser
  // that skipped "size" bytes here would not see the member that follows, which they do.
  for (const type of ["1", "2", "3", "4", "5", "6"]) {
    const entries = parse(buildTar([
      { name: "odd", type, link: "target", size: 1 },
      { name: "hidden", data: "seen" },
    ]));
    assert.deepEqual(
      entries.map((e) => [text(e.path), e.size, e.data.length]),
      [["odd", 0, 0], ["hidden", 4, 4]],
      `type ${type}`,
    );
  }
  // The size field is still checked.
  assertIjrError(
    () => parseBlocks({ name: "odd", type: "5", size: -1 }),
    "INVALID_ARGUMENT",
    outOfRange(0, "odd", "size -1", SIZE_RANGE),
  );
  // A GNU dumpdir ('D') is a directory followed by its listing, which is skipped.
  const [dumpdir, after] = parse(buildTar([
    { name: "dd", type: "D", data: "Yname\u0000\u0000", magic: "gnu" },
    { name: "after", data: "a" },
  ]));
  assert.deepEqual([dumpdir.type, dumpdir.data.length, text(after.path)], [
    "directory",
    0,
    "after",
  ]);
});

Deno.test("a wrong checksum is reported with its offset; in the first header as not-a-tar", () => {
  assertIjrError(
    () => parse(buildTar([{ name: "a", checksumDelta: 1 }])),
    "INVALID_ARGUMENT",
    /^not a tar archive: the first header's checksum is wrong/,
  );
  assertIjrError(
    () => parse(buildTar([{ name: "a", data: "1" }, { name: "b", checksumDelta: -3 }])),
    "INVALID_ARGUMENT",
    /^corrupt tar archive at byte 1024: header checksum mismatch$/,
  );
  assertIjrError(
    () => parse(encoder.encode("hello, this is plain text, not a tar archive\n".repeat(20))),
    "INVALID_ARGUMENT",
    /^not a tar archive/,
  );
});

Deno.test("truncated archives: inside data, inside a header, without the end block, empty", () => {
  const full = buildTar([{ name: "a", data: "x".repeat(1000) }]);
  assertIjrError(
    () => parse(full.subarray(0, 700)),
    "INVALID_ARGUMENT",
    /^truncated tar archive: it ends at byte 700, inside the data of the member at byte 0$/,
  );
  assertIjrError(
    () => parse(full.subarray(0, 300)),
    "INVALID_ARGUMENT",
    /^truncated tar archive: it ends at byte 300, inside a header at byte 0$/,
  );
  assertIjrError(
    () => parse(buildTar([{ name: "a", data: "x" }], { end: false })),
    "INVALID_ARGUMENT",
    /^truncated tar archive: it ends at byte 1024 without the end-of-archive block$/,
  );
  assertIjrError(() => parse(new Uint8Array(0)), "INVALID_ARGUMENT", /empty after decompression/);
});

Deno.test("limits: path length, declared content size (before any data is read)", () => {
  const options = { maxPathBytes: 10, maxContentBytes: 100 };
  assertIjrError(
    () => parse(buildTar([{ name: "x".repeat(11) }]), undefined, options),
    "RESOURCE_EXHAUSTED",
    /path or link target longer than the limit of 10 bytes/,
  );
  assertIjrError(
    () => parse(buildTar([{ name: "l", type: "2", link: "y".repeat(11) }]), undefined, options),
    "RESOURCE_EXHAUSTED",
    /limit of 10 bytes/,
  );
  // 1 TiB declared, no data present: refused at the header, not after reading.
  const header = buildTar([{ name: "huge", size: 2n ** 40n }], { end: false });
  assertIjrError(
    () => parse(header, undefined, options),
    "RESOURCE_EXHAUSTED",
    /exceeds the extracted-size limit of 100 bytes \(member at byte 0 declares 1099511627776 bytes\)/,
  );
  // The budget is cumulative and counts extended headers too.
  assertIjrError(
    () =>
      parse(
        buildTar([{ name: "a", data: "x".repeat(60) }, { name: "b", data: "y".repeat(60) }]),
        undefined,
        options,
      ),
    "RESOURCE_EXHAUSTED",
    /member at byte 1024 declares 60 bytes/,
  );
});

Deno.test("hostile structure: runs of extended headers, oversized ones, trailing bombs", () => {
  const run = Array.from({ length: 9 }, () => paxMember({ comment: "x" }));
  assertIjrError(
    () => parse(buildTar([...run, { name: "a" }])),
    "INVALID_ARGUMENT",
    /more than 8 extended headers in a row/,
  );
  assertIjrError(
    () => parse(buildTar([{ name: "big", type: "x", size: 2 * 1024 * 1024 }], { end: false })),
    "RESOURCE_EXHAUSTED",
    /extended header at byte 0 is 2097152 bytes; the limit is 1048576/,
  );
  assertIjrError(
    () => parse(buildTar([paxMember({ path: "dangling" })])),
    "INVALID_ARGUMENT",
    /extended header without a member/,
  );
  const withTrailer = new Uint8Array(2048 + 17 * 1024 * 1024);
  withTrailer.set(buildTar([{ name: "a" }]));
  assertIjrError(
    () => parse(withTrailer, 1 << 20),
    "INVALID_ARGUMENT",
    /more than 16777216 bytes after/,
  );
  // Ordinary record padding (GNU tar pads to 10240 bytes) is fine.
  const padded = new Uint8Array(10240);
  padded.set(buildTar([{ name: "a" }]));
  assert.equal(parse(padded).length, 1);
});

Deno.test("unsupported members are refused by name: sparse, multi-volume, unknown types, v7", () => {
  assertIjrError(
    () => parse(buildTar([{ name: "s", type: "S", magic: "gnu" }])),
    "INVALID_ARGUMENT",
    /GNU sparse files \('S'\)/,
  );
  assertIjrError(
    () => parse(buildTar([paxMember({ "GNU.sparse.major": "1" }), { name: "s" }])),
    "INVALID_ARGUMENT",
    /sparse files are not supported/,
  );
  assertIjrError(
    () => parse(buildTar([{ name: "m", type: "M", magic: "gnu" }])),
    "INVALID_ARGUMENT",
    /multi-volume/,
  );
  assertIjrError(
    () => parse(buildTar([{ name: "z", type: "Z" }])),
    "INVALID_ARGUMENT",
    /members of type "Z"/,
  );
  assertIjrError(
    () => parse(buildTar([{ name: "old", magic: "none" }])),
    "INVALID_ARGUMENT",
    /no ustar magic/,
  );
  assertIjrError(
    () => parse(buildTar([{ name: "PaxHeader", type: "x", data: "garbage\n" }, { name: "a" }])),
    "INVALID_ARGUMENT",
    /malformed PAX record length/,
  );
  assertIjrError(
    () => parse(buildTar([paxMember({ mtime: "soon" }), { name: "a" }])),
    "INVALID_ARGUMENT",
    /^corrupt tar archive at byte 1024: member "a" has PAX mtime "soon", not a valid time$/,
  );
});

Deno.test("non-UTF-8 names stay raw bytes", () => {
  const name = new Uint8Array([0x66, 0xff, 0xfe, 0x2e, 0x74]);
  const [entry] = parse(buildTar([{ name, data: "" }]));
  assert.deepEqual([...entry.path], [...name]);
});

// --- Numeric header fields: every one is range-checked, and a bad one names its member. ---

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const SIZE_RANGE = `0..${MAX_SAFE}`;
const MTIME_RANGE = `-${MAX_SAFE}..${MAX_SAFE}`;

/** The message of a numeric field out of range, exactly. */
function outOfRange(offset: number, path: string, what: string, range: string): RegExp {
  const text = `corrupt tar archive at byte ${offset}: member "${path}" has ${what}, out of ` +
    `range ${range}`;
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
}

/** A header followed by the end-of-archive blocks, fed 512 bytes at a time: with a negative
 * size the old parser stepped back one block per push instead of looping within one. */
function parseBlocks(member: TarMember): Parsed[] {
  return parse(buildTar([member]), 512);
}

Deno.test("a negative base-256 size is refused at its header, not re-read (the 64 KiB attack)", () => {
  for (const size of [-512, -1024]) {
    // Exactly what the attacker sent: one header, zero padding, one 64 KiB chunk.
    const chunk = new Uint8Array(64 * 1024);
    chunk.set(tarHeader({ name: "evil", size }));
    let entries = 0;
    const parser = new TarParser({
      entry() {
        // The old parser moved back over the header and delivered it again, without end.
        if (++entries > 1) throw new Error(`the header was delivered ${entries} times`);
      },
      data() {},
      entryEnd() {},
    }, LIMITS);
    const started = performance.now();
    assertIjrError(
      () => parser.push(chunk),
      "INVALID_ARGUMENT",
      outOfRange(0, "evil", `size ${size}`, SIZE_RANGE),
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);
    // Refused before the member reached the sink.
    assert.equal(entries, 0);
  }
});

Deno.test("a negative size is refused on every kind of header, extended ones included", () => {
  // x, g, L, K: the old parser allocated a negative-length buffer (a RangeError); the others
  // made it step backwards.
  for (const type of ["0", "5", "2", "3", "6", "x", "g", "L", "K", "V", "D"]) {
    assertIjrError(
      () => parseBlocks({ name: `kind-${type}`, type, size: -1, link: "t", magic: "gnu" }),
      "INVALID_ARGUMENT",
      outOfRange(0, `kind-${type}`, "size -1", SIZE_RANGE),
    );
  }
  // A directory with a negative size in one chunk: delivered at most once, then refused.
  let entries = 0;
  const chunk = new Uint8Array(64 * 1024);
  chunk.set(tarHeader({ name: "d/", type: "5", size: -1024 }));
  const parser = new TarParser({
    entry() {
      if (++entries > 1) throw new Error(`the header was delivered ${entries} times`);
    },
    data() {},
    entryEnd() {},
  }, LIMITS);
  assertIjrError(
    () => parser.push(chunk),
    "INVALID_ARGUMENT",
    outOfRange(0, "d/", "size -1024", SIZE_RANGE),
  );
  assert.equal(entries, 0);
});

Deno.test("a size beyond a safe integer is refused, naming the member; the largest safe one meets the limit", () => {
  assertIjrError(
    () => parseBlocks({ name: "big", size: 2n ** 53n }),
    "INVALID_ARGUMENT",
    outOfRange(0, "big", "size 9007199254740992", SIZE_RANGE),
  );
  // The largest positive number a 12-byte base-256 field holds (95 bits of two's complement).
  assertIjrError(
    () => parseBlocks({ name: "big", size: 2n ** 94n - 1n }),
    "INVALID_ARGUMENT",
    outOfRange(0, "big", `size ${2n ** 94n - 1n}`, SIZE_RANGE),
  );
  // In range: the extracted-size limit refuses it, as any honest but too large size.
  assertIjrError(
    () => parseBlocks({ name: "big", size: MAX_SAFE }),
    "RESOURCE_EXHAUSTED",
    /member at byte 0 declares 9007199254740991 bytes\)$/,
  );
});

Deno.test("uid and gid: 0..4294967294 ((uid_t)-1 is chown's 'no change'), base-256 negatives refused", () => {
  for (const field of ["uid", "gid"] as const) {
    for (const value of [-1, 4294967295, 2 ** 40]) {
      assertIjrError(
        () => parseBlocks({ name: "owned", [field]: value }),
        "INVALID_ARGUMENT",
        outOfRange(0, "owned", `${field} ${value}`, "0..4294967294"),
      );
    }
    const [entry] = parseBlocks({ name: "owned", [field]: 4294967294 });
    assert.equal(entry[field], 4294967294);
  }
  // Eight octal digits, no NUL: the widest octal the field holds, and valid.
  const header = tarHeader({ name: "wide" });
  putField(header, 108, 8, "77777777");
  fixChecksum(header);
  const archive = new Uint8Array(512 * 3);
  archive.set(header);
  assert.equal(parse(archive)[0].uid, 0o77777777);
});

Deno.test("mode: base-256 negatives and more than seven octal digits are refused", () => {
  assertIjrError(
    () => parseBlocks({ name: "m", mode: -1 }),
    "INVALID_ARGUMENT",
    outOfRange(0, "m", "mode -1", "0..2097151"),
  );
  const withMode = (text: string) => {
    const archive = new Uint8Array(512 * 3);
    archive.set(tarHeader({ name: "m" }));
    putField(archive, 100, 8, text);
    fixChecksum(archive);
    return archive;
  };
  assertIjrError(
    () => parse(withMode("10000000")),
    "INVALID_ARGUMENT",
    outOfRange(0, "m", "mode 2097152", "0..2097151"),
  );
  // The largest valid one keeps its permission bits; file type bits (old tars) are dropped.
  assert.equal(parse(withMode("7777777"))[0].mode, 0o7777);
  assert.equal(parse(withMode("0100755"))[0].mode, 0o755);
  assertIjrError(
    () => parse(withMode("0000x44")),
    "INVALID_ARGUMENT",
    /^corrupt tar archive at byte 0: member "m" has a mode field that is not an octal number: "0000x44\\u0000"$/,
  );
});

Deno.test("mtime: negative is fine (before 1970), beyond a safe integer is refused, PAX too", () => {
  assert.equal(parseBlocks({ name: "t", mtime: -MAX_SAFE })[0].mtimeSec, -MAX_SAFE);
  assert.equal(parseBlocks({ name: "t", mtime: MAX_SAFE })[0].mtimeSec, MAX_SAFE);
  for (const mtime of [2n ** 53n, -(2n ** 53n), -(2n ** 94n)]) {
    assertIjrError(
      () => parseBlocks({ name: "t", mtime }),
      "INVALID_ARGUMENT",
      outOfRange(0, "t", `mtime ${mtime}`, MTIME_RANGE),
    );
  }
  const withPax = (mtime: string) => parse(buildTar([paxMember({ mtime }), { name: "t" }]));
  assert.equal(withPax(`-${MAX_SAFE}`)[0].mtimeSec, -MAX_SAFE);
  assert.equal(withPax(`${MAX_SAFE}.999999999`)[0].mtimeNsec, 999999999);
  // -9007199254740991.5 is 9007199254740992 seconds before the epoch plus half a second.
  for (const mtime of ["9007199254740992", `-${MAX_SAFE}.5`, "1".repeat(30)]) {
    assertIjrError(
      () => withPax(mtime),
      "INVALID_ARGUMENT",
      outOfRange(1024, "t", `PAX mtime "${mtime}"`, MTIME_RANGE),
    );
  }
});

Deno.test("device numbers: what the kernel's dev_t encodes (major 0..4095, minor 0..1048575)", () => {
  const device = (devMajor: number, devMinor: number) =>
    parseBlocks({ name: "dev/x", type: "3", devMajor, devMinor });
  assert.deepEqual(
    [device(4095, 1048575)[0].devMajor, device(4095, 1048575)[0].devMinor],
    [4095, 1048575],
  );
  for (
    const [major, minor, what, range] of [
      [-1, 0, "devmajor -1", "0..4095"],
      [4096, 0, "devmajor 4096", "0..4095"],
      [0, -1, "devminor -1", "0..1048575"],
      [0, 1048576, "devminor 1048576", "0..1048575"],
    ] as const
  ) {
    assertIjrError(
      () => device(major, minor),
      "INVALID_ARGUMENT",
      outOfRange(0, "dev/x", what, range),
    );
  }
  // Other members do not use the device fields, and GNU tar does not read them either.
  assert.equal(parseBlocks({ name: "f", devMajor: -1, devMinor: 2 ** 40 })[0].devMajor, 0);
});

Deno.test("PAX size, uid and gid out of range or not numbers name the member they apply to", () => {
  const cases: [Record<string, string>, string][] = [
    [{ size: "-5" }, `PAX size "-5", out of range ${SIZE_RANGE}`],
    [{ size: "9007199254740992" }, `PAX size "9007199254740992", out of range ${SIZE_RANGE}`],
    [
      { size: "99999999999999999999999999" },
      `PAX size "99999999999999999999999999", out of range ${SIZE_RANGE}`,
    ],
    [{ uid: "4294967295" }, `PAX uid "4294967295", out of range 0..4294967294`],
    [{ gid: "-1" }, `PAX gid "-1", out of range 0..4294967294`],
  ];
  for (const [records, what] of cases) {
    assertIjrError(
      () => parse(buildTar([paxMember(records), { name: "member" }])),
      "INVALID_ARGUMENT",
      new RegExp(
        `^corrupt tar archive at byte 1024: member "member" has ${
          what.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
        }$`,
      ),
    );
  }
  assertIjrError(
    () => parse(buildTar([paxMember({ uid: "12abc" }), { name: "member" }])),
    "INVALID_ARGUMENT",
    /^corrupt tar archive at byte 1024: member "member" has PAX uid "12abc", not a decimal number$/,
  );
  // A global record is checked against the first member it applies to, by that member's name.
  assertIjrError(
    () =>
      parse(buildTar([paxMember({ gid: "4294967295" }, true), { name: "first" }, { name: "b" }])),
    "INVALID_ARGUMENT",
    /^corrupt tar archive at byte 1024: member "first" has PAX gid "4294967295", out of range/,
  );
  // Leading zeros are still the number they spell.
  assert.equal(
    parse(buildTar([paxMember({ uid: "000000000000000000000042" }), { name: "z" }]))[0].uid,
    42,
  );
});

Deno.test("PAX records of hundreds of kilobytes are read, refused or ignored, never overflow the stack", () => {
  const digits = "1".repeat(300_000);
  const archive = buildTar([paxMember({ uid: digits }), { name: "member" }]);
  // The member's header: before its own end-of-archive blocks.
  const memberAt = archive.length - 1024 - 512;
  // The value is shown shortened.
  assertIjrError(
    () => parse(archive),
    "INVALID_ARGUMENT",
    new RegExp(
      `^corrupt tar archive at byte ${memberAt}: member "member" has PAX uid ` +
        `"${"1".repeat(40)}\\.\\.\\." \\(300000 bytes\\), out of range 0\\.\\.4294967294$`,
    ),
  );
  // An unknown key that long changes nothing.
  const [entry] = parse(buildTar([paxMember({ ["k".repeat(300_000)]: "v" }), { name: "kept" }]));
  assert.equal(text(entry.path), "kept");
  // No space after the length digits: a malformed record, not a 300000-digit length.
  assertIjrError(
    () => parse(buildTar([{ name: "PaxHeader", type: "x", data: digits }, { name: "a" }])),
    "INVALID_ARGUMENT",
    /^corrupt tar archive at byte 0: malformed PAX record length$/,
  );
});

// --- Where GNU tar (the reference the round-trip tests and the fuzzer compare with) reads an
// odd but accepted archive one way, the parser reads it the same way. ---

const longName = (name: string): TarMember => ({
  name: "././@LongLink",
  type: "L",
  data: `${name}\u0000`,
  magic: "gnu",
});

Deno.test("a second PAX header before one member replaces the first, as in GNU tar", () => {
  const paths = (members: TarMember[]) => parse(buildTar(members)).map((e) => text(e.path));
  assert.deepEqual(paths([paxMember({ path: "A" }), paxMember({ comment: "c" }), { name: "B" }]), [
    "B",
  ]);
  assert.deepEqual(paths([paxMember({ comment: "c" }), paxMember({ path: "A" }), { name: "B" }]), [
    "A",
  ]);
  const [entry] = parse(
    buildTar([paxMember({ path: "A", uid: "9" }), paxMember({ uid: "5" }), { name: "B" }]),
  );
  assert.deepEqual([text(entry.path), entry.uid], ["B", 5]);
});

Deno.test("PAX path and linkpath win over GNU long names in either order; global ones too", () => {
  const first = (members: TarMember[]) => parse(buildTar(members))[0];
  assert.equal(text(first([longName("A"), paxMember({ path: "X" }), { name: "B" }]).path), "X");
  assert.equal(text(first([paxMember({ path: "X" }), longName("A"), { name: "B" }]).path), "X");
  assert.equal(
    text(first([paxMember({ path: "G" }, true), longName("A"), { name: "B" }]).path),
    "G",
  );
  const link = first([
    paxMember({ linkpath: "/pax-target" }),
    { name: "././@LongLink", type: "K", data: "k-target\u0000", magic: "gnu" },
    { name: "s", type: "2", link: "header-target" },
  ]);
  assert.equal(text(link.linkPath), "/pax-target");
  // The long name still applies when no PAX path does, and only to the next member.
  const [named, after] = parse(buildTar([longName("A"), { name: "B" }, { name: "C" }]));
  assert.deepEqual([text(named.path), text(after.path)], ["A", "C"]);
});

Deno.test("a regular file whose name ends in '/' is a directory (old tars' convention), as GNU tar reads it", () => {
  // Like any directory, with no data after it, whatever its size field says.
  const entries = parse(buildTar([
    { name: "d/", type: "0", size: 7 },
    { name: "e/", type: "\u0000" },
    { name: "c/", type: "7" },
    { name: "f", type: "0", data: "file" },
  ]));
  assert.deepEqual(
    entries.map((e) => [text(e.path), e.type, e.size, e.data.length]),
    [["d/", "directory", 0, 0], ["e/", "directory", 0, 0], ["c/", "directory", 0, 0], [
      "f",
      "file",
      4,
      4,
    ]],
  );
});

Deno.test("a header field that a PAX record overrides is still range-checked, as GNU tar does", () => {
  for (
    const [records, member, what] of [
      [{ uid: "5" }, { uid: -1 }, "uid -1"],
      [{ gid: "5" }, { gid: 4294967295 }, "gid 4294967295"],
      [{ size: "0" }, { size: -512 }, "size -512"],
      [{ mtime: "1.5" }, { mtime: 2n ** 60n }, `mtime ${2n ** 60n}`],
    ] as const
  ) {
    assertIjrError(
      () => parse(buildTar([paxMember(records), { name: "m", ...member }])),
      "INVALID_ARGUMENT",
      new RegExp(`^corrupt tar archive at byte 1024: member "m" has ${what}, out of range `),
    );
  }
  // A global record too.
  assertIjrError(
    () => parse(buildTar([paxMember({ uid: "7" }, true), { name: "m", uid: -1 }])),
    "INVALID_ARGUMENT",
    /^corrupt tar archive at byte 1024: member "m" has uid -1, out of range /,
  );
});

Deno.test("a global PAX header replaces the previous global one, as in GNU tar and libarchive", () => {
  const entries = parse(buildTar([
    paxMember({ uid: "7", path: "G" }, true),
    { name: "f1", uid: 1, gid: 2 },
    paxMember({ gid: "8" }, true),
    { name: "f2", uid: 1, gid: 2 },
  ]));
  assert.deepEqual(
    entries.map((e) => [text(e.path), e.uid, e.gid]),
    [["G", 7, 2], ["f2", 1, 8]],
  );
});

Deno.test("a volume label ('V') takes the extended headers before it, as in GNU tar", () => {
  const paths = (members: TarMember[]) => parse(buildTar(members)).map((e) => text(e.path));
  const label: TarMember = { name: "label", type: "V", magic: "gnu" };
  assert.deepEqual(paths([longName("A"), label, { name: "B" }]), ["B"]);
  assert.deepEqual(paths([paxMember({ path: "A" }), label, { name: "B" }]), ["B"]);
  // Its data is skipped.
  assert.deepEqual(paths([{ ...label, data: "12345" }, { name: "B" }]), ["B"]);
});

Deno.test("a numeric field of only spaces is not a number (GNU tar: 'Blanks in header'); all NULs is 0", () => {
  const withGid = (bytes: string) => {
    const archive = new Uint8Array(512 * 3);
    archive.set(tarHeader({ name: "g", gid: 5 }));
    putField(archive, 116, 8, bytes);
    fixChecksum(archive);
    return archive;
  };
  assertIjrError(
    () => parse(withGid("        ")),
    "INVALID_ARGUMENT",
    /^corrupt tar archive at byte 0: member "g" has a gid field that is not an octal number: " {8}"$/,
  );
  assert.equal(parse(withGid(""))[0].gid, 0);
  assert.equal(parse(withGid("   12 \u0000"))[0].gid, 0o12);
});

Deno.test("one NUL before a numeric field's digits is skipped, as GNU tar skips it", () => {
  // GNU tar (list.c, from_header) skips one leading NUL, left by old tars whose previous field
  // overflowed, then blanks. Read as 0 instead, the field would differ from what tar extracts:
  // an mtime (found by the fuzzer: "\u00003727410000" is 526258176 to GNU tar), or a size,
  // which would misframe every member after it.
  const withField = (at: number, length: number, bytes: string, data = new Uint8Array(0)) => {
    const archive = new Uint8Array(512 * 4);
    archive.set(tarHeader({ name: "f", size: data.length }));
    putField(archive, at, length, bytes);
    fixChecksum(archive);
    archive.set(data, 512);
    return archive;
  };
  assert.equal(parse(withField(136, 12, "\u00003727410000\u0000"))[0].mtimeSec, 0o3727410000);
  assert.equal(parse(withField(116, 8, "\u0000  12 \u0000"))[0].gid, 0o12);
  const [sized] = parse(withField(124, 12, "\u000000000005\u0000", encoder.encode("hello")));
  assert.deepEqual([sized.size, decoder.decode(sized.data)], [5, "hello"]);
  // Only one: a second NUL ends the digits (0), and a NUL before blanks alone is no number.
  assert.equal(parse(withField(116, 8, "\u0000\u000012"))[0].gid, 0);
  assertIjrError(
    () => parse(withField(116, 8, "\u0000       ")),
    "INVALID_ARGUMENT",
    /^corrupt tar archive at byte 0: member "f" has a gid field that is not an octal number: /,
  );
});

Deno.test("a global PAX number is checked even where the member's own record replaces it", () => {
  assertIjrError(
    () =>
      parse(buildTar([
        paxMember({ mtime: "9".repeat(29) }, true),
        paxMember({ mtime: "1.5" }),
        { name: "m" },
      ])),
    "INVALID_ARGUMENT",
    new RegExp(
      `^corrupt tar archive at byte 2048: member "m" has PAX mtime "${
        "9".repeat(29)
      }", out of range `,
    ),
  );
  assertIjrError(
    () => parse(buildTar([paxMember({ uid: "-1" }, true), paxMember({ uid: "" }), { name: "m" }])),
    "INVALID_ARGUMENT",
    /^corrupt tar archive at byte 2048: member "m" has PAX uid "-1", out of range 0\.\.4294967294$/,
  );
});

Deno.test("a GNU long name is the string in its whole data blocks, as GNU tar reads it", () => {
  // GNU tar copies the padded blocks and reads the name up to its NUL, past a size field
  // that says less (libarchive stops at the size; GNU tar's own extension follows GNU tar).
  const entries = parse(buildTar([
    { ...longName("dir/a-long-name"), size: 1 },
    { name: "short" },
    { name: "././@LongLink", type: "K", data: "target\u0000", size: 3, magic: "gnu" },
    { name: "s", type: "2", link: "t" },
  ]));
  assert.deepEqual(entries.map((e) => [text(e.path), text(e.linkPath)]), [
    ["dir/a-long-name", ""],
    ["s", "target"],
  ]);
});
