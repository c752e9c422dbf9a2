/**
 * Mutations of real tar archives for the tar fuzzer (tests/integration/rootfs_tar_fuzz_test.ts).
 * Everything here is deterministic: a mutant depends only on its base archive and the
 * numbers its Random draws, so a seed and a mutant index reproduce it exactly.
 *
 * Besides blind bit flips and byte overwrites, most mutations know the tar layout: they set
 * a numeric header field to a value a hostile archive would carry (base-256 negatives, huge
 * numbers, non-octal text) and then fix the header checksum, so the header is accepted and
 * the value reaches the code that uses it, instead of stopping at "checksum mismatch".
 * @module
 */

import { fixChecksum, paxMember, putField, putNumeric, tarHeader } from "./tar_writer.ts";

const BLOCK = 512;
const encoder = new TextEncoder();

/** A small, fast, seedable generator (mulberry32): the same seed draws the same numbers. */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The generator for mutant `index` of a run seeded with `seed`: independent of how many
   * mutants came before, so one mutant can be replayed alone. */
  static forMutant(seed: number, index: number): Random {
    let h = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    return new Random((h ^ (h >>> 16)) >>> 0);
  }

  /** A uint32. */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.next() / 4294967296) * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() / 4294967296 < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  /** Fills bytes with random values. */
  fill(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) bytes[i] = this.next() & 0xff;
  }
}

/** Offsets of the blocks that look like headers: 512-aligned, with the ustar magic. */
export function headerOffsets(tar: Uint8Array): number[] {
  const offsets: number[] = [];
  for (let at = 0; at + BLOCK <= tar.length; at += BLOCK) {
    if (
      tar[at + 257] === 0x75 && tar[at + 258] === 0x73 && tar[at + 259] === 0x74 &&
      tar[at + 260] === 0x61 && tar[at + 261] === 0x72
    ) offsets.push(at);
  }
  return offsets;
}

/** The size field of a header as an honest tar writes it (octal), else 0. */
function declaredSize(tar: Uint8Array, at: number): number {
  let value = 0;
  for (let i = at + 124; i < at + 136; i++) {
    const c = tar[i];
    if (c >= 0x30 && c <= 0x37) value = value * 8 + (c - 0x30);
    else if (c !== 0x20 || value > 0) break;
  }
  return value;
}

/** The blocks a member takes: its header and its data, padded. */
function memberBlocks(tar: Uint8Array, at: number): number {
  return 1 + Math.ceil(Math.min(declaredSize(tar, at), tar.length) / BLOCK);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Numeric header fields: name, offset, length. */
const NUMERIC_FIELDS = [
  ["mode", 100, 8],
  ["uid", 108, 8],
  ["gid", 116, 8],
  ["size", 124, 12],
  ["mtime", 136, 12],
  ["checksum", 148, 8],
  ["devmajor", 329, 8],
  ["devminor", 337, 8],
] as const;

/** Values a hostile archive puts in a numeric field: at and beyond every range the parser
 * knows (sizes, uid_t, dev_t, safe integers), negatives, and the base-256 extremes. */
const INTERESTING_NUMBERS: readonly bigint[] = [
  0n,
  1n,
  -1n,
  -511n,
  -512n,
  -513n,
  -1024n,
  -(2n ** 31n),
  -(2n ** 53n),
  -(2n ** 53n - 1n),
  -(2n ** 63n),
  511n,
  512n,
  4095n,
  4096n,
  0o7777n,
  0o7777777n,
  0o10000000n,
  1048575n,
  1048576n,
  2n ** 31n,
  4294967294n,
  4294967295n,
  4294967296n,
  2n ** 33n - 1n,
  2n ** 40n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n - 1n,
  2n ** 64n,
  2n ** 94n - 1n,
];

/** Texts a numeric field should never hold. */
const BAD_NUMBER_TEXTS: readonly string[] = [
  "89",
  "0x1f",
  "-1",
  "+7",
  " 1 2",
  "1e9",
  "        ",
  "\u0000\u0000\u0000",
  "7".repeat(12),
  "77777777",
  "10000000",
  "0000000\u00ff",
];

/** Bytes that often change how a parser reads a field. */
const INTERESTING_BYTES = [
  0x00,
  0xff,
  0x80,
  0x7f,
  0x20,
  0x30,
  0x37,
  0x38,
  0x2f,
  0x2e,
  0x0a,
  0x3d,
  0x78,
  0x4c,
];

/** Paths that test confinement and normalisation. "../../.." from the store's new root is
 * the fuzzer's sandbox, where the sentinels are. */
const INTERESTING_PATHS = [
  "",
  ".",
  "..",
  "/",
  "./",
  "../",
  "a/../b",
  "../../../outside/sentinel",
  "../../../outside/farm/to-sentinel",
  "../../../canary",
  "/etc/passwd",
  "bin/",
  "bin/sh/",
  "./bin/busybox",
  "x".repeat(100),
  "dir/././/file",
];

/** The type flags a header may carry, supported or not. */
const TYPEFLAGS = "0123456 7DxgLKVSMNZA\u0000";

/** PAX keys a mutation writes, and values for them. */
const PAX_KEYS = [
  "size",
  "uid",
  "gid",
  "mtime",
  "path",
  "linkpath",
  "atime",
  "comment",
  "GNU.sparse.major",
  "SCHILY.xattr.user.x",
];
const PAX_VALUES = [
  "",
  "0",
  "-1",
  "-0",
  "1.5",
  "-1.25",
  "1.",
  ".5",
  "abc",
  "12abc",
  "4294967294",
  "4294967295",
  "9007199254740991",
  "9007199254740992",
  "-9007199254740991.5",
  "99999999999999999999999999999",
  "1".repeat(300_000),
  "../../../outside/pax",
  "/",
  "\u0000",
];

/** Where a mutation points: a random header byte, more often than any byte. */
function somewhere(rng: Random, tar: Uint8Array, headers: number[]): number {
  if (headers.length > 0 && rng.chance(0.7)) return rng.pick(headers) + rng.below(BLOCK);
  return rng.below(tar.length);
}

/** One mutation of an uncompressed archive: the new bytes and what was done, for reports. */
export interface Mutated {
  tar: Uint8Array;
  description: string;
}

type TarMutation = (tar: Uint8Array, rng: Random, headers: number[]) => Mutated;

/** Half the time, makes the checksums of the headers among `touched` right again, so a
 * damaged header is read instead of refused at its checksum. */
function maybeFixChecksums(out: Uint8Array, rng: Random, headers: number[], touched: number[]) {
  if (!rng.chance(0.5)) return "";
  const blocks = new Set(touched.map((at) => at - (at % BLOCK)));
  for (const header of headers) if (blocks.has(header)) fixChecksum(out, header);
  return " (checksums fixed)";
}

function flipBits(tar: Uint8Array, rng: Random, headers: number[]): Mutated {
  if (tar.length === 0) return { tar, description: "nothing to flip in an empty archive" };
  const out = tar.slice();
  const flips: string[] = [];
  const touched: number[] = [];
  for (let n = 1 + rng.below(8); n > 0; n--) {
    const at = somewhere(rng, out, headers);
    const bit = rng.below(8);
    out[at] ^= 1 << bit;
    flips.push(`${at}.${bit}`);
    touched.push(at);
  }
  const fixed = maybeFixChecksums(out, rng, headers, touched);
  return { tar: out, description: `flip bits ${flips.join(",")}${fixed}` };
}

function overwriteBytes(tar: Uint8Array, rng: Random, headers: number[]): Mutated {
  if (tar.length === 0) return { tar, description: "nothing to overwrite in an empty archive" };
  const out = tar.slice();
  const writes: string[] = [];
  const touched: number[] = [];
  for (let n = 1 + rng.below(4); n > 0; n--) {
    const at = somewhere(rng, out, headers);
    out[at] = rng.pick(INTERESTING_BYTES);
    writes.push(`${at}=0x${out[at].toString(16)}`);
    touched.push(at);
  }
  const fixed = maybeFixChecksums(out, rng, headers, touched);
  return { tar: out, description: `overwrite ${writes.join(",")}${fixed}` };
}

function setNumericField(tar: Uint8Array, rng: Random, headers: number[]): Mutated {
  if (headers.length === 0) return flipBits(tar, rng, headers);
  const out = tar.slice();
  const header = rng.pick(headers);
  const [name, offset, length] = rng.pick(NUMERIC_FIELDS);
  let shown: string;
  const kind = rng.below(4);
  if (kind === 0) {
    const text = rng.pick(BAD_NUMBER_TEXTS).slice(0, length);
    // One byte per character: "\u00ff" is the byte 0xff.
    putField(out, header + offset, length, Uint8Array.from(text, (c) => c.charCodeAt(0)));
    shown = JSON.stringify(text);
  } else if (kind === 1 && name === "size") {
    // Near the honest size: the data boundaries shift by a little.
    const honest = declaredSize(out, header);
    const value = honest + rng.pick([-513, -512, -1, 1, 511, 512, 1024, honest + 1, -honest]);
    putNumeric(out, header + offset, length, value);
    shown = String(value);
  } else {
    const value = rng.pick(INTERESTING_NUMBERS);
    // Values beyond the field wrap in putNumeric: still a hostile value, written exactly.
    putNumeric(out, header + offset, length, value);
    shown = String(value);
  }
  // Mostly a valid checksum, so the value gets past the checksum test.
  const fixed = name !== "checksum" && rng.chance(0.9);
  if (fixed) fixChecksum(out, header);
  return {
    tar: out,
    description: `${name} of header ${header} = ${shown}${fixed ? "" : " (checksum not fixed)"}`,
  };
}

function setTypeflag(tar: Uint8Array, rng: Random, headers: number[]): Mutated {
  if (headers.length === 0) return flipBits(tar, rng, headers);
  const out = tar.slice();
  const header = rng.pick(headers);
  const flag = rng.pick([...TYPEFLAGS]);
  out[header + 156] = flag.charCodeAt(0);
  fixChecksum(out, header);
  return { tar: out, description: `typeflag of header ${header} = ${JSON.stringify(flag)}` };
}

function setPathField(tar: Uint8Array, rng: Random, headers: number[]): Mutated {
  if (headers.length === 0) return flipBits(tar, rng, headers);
  const out = tar.slice();
  const header = rng.pick(headers);
  const [name, offset, length] = rng.pick(
    [
      ["name", 0, 100],
      ["linkname", 157, 100],
      ["prefix", 345, 155],
    ] as const,
  );
  const path = rng.pick(INTERESTING_PATHS);
  putField(out, header + offset, length, encoder.encode(path).subarray(0, length));
  fixChecksum(out, header);
  return { tar: out, description: `${name} of header ${header} = ${JSON.stringify(path)}` };
}

function setMagic(tar: Uint8Array, rng: Random, headers: number[]): Mutated {
  if (headers.length === 0) return flipBits(tar, rng, headers);
  const out = tar.slice();
  const header = rng.pick(headers);
  const magic = rng.pick(["ustar\u000000", "ustar  \u0000", "ustar\u0000  ", "\u0000".repeat(8)]);
  putField(out, header + 257, 8, magic);
  fixChecksum(out, header);
  return { tar: out, description: `magic of header ${header} = ${JSON.stringify(magic)}` };
}

function truncate(tar: Uint8Array, rng: Random, headers: number[]): Mutated {
  let at: number;
  if (headers.length > 0 && rng.chance(0.5)) at = rng.pick(headers) + rng.pick([-1, 0, 1, 511]);
  else if (rng.chance(0.3)) at = tar.length - rng.below(2048);
  else at = rng.below(tar.length);
  at = Math.max(0, Math.min(tar.length, at));
  return { tar: tar.slice(0, at), description: `truncate at ${at}` };
}

/** A run of blocks: a whole member or one to four blocks. */
function blockRun(tar: Uint8Array, rng: Random, headers: number[]): [number, number] {
  if (headers.length > 0 && rng.chance(0.6)) {
    const at = rng.pick(headers);
    return [at, Math.min(tar.length, at + memberBlocks(tar, at) * BLOCK)];
  }
  const at = rng.below(Math.max(1, Math.floor(tar.length / BLOCK))) * BLOCK;
  return [at, Math.min(tar.length, at + (1 + rng.below(4)) * BLOCK)];
}

function duplicateBlocks(tar: Uint8Array, rng: Random, headers: number[]): Mutated {
  const [start, end] = blockRun(tar, rng, headers);
  const to = headers.length > 0 && rng.chance(0.7)
    ? rng.pick(headers)
    : rng.below(Math.floor(tar.length / BLOCK) + 1) * BLOCK;
  const out = concat(tar.subarray(0, to), tar.subarray(start, end), tar.subarray(to));
  return { tar: out, description: `copy bytes ${start}..${end} to ${to}` };
}

function removeBlocks(tar: Uint8Array, rng: Random, headers: number[]): Mutated {
  const [start, end] = blockRun(tar, rng, headers);
  return {
    tar: concat(tar.subarray(0, start), tar.subarray(end)),
    description: `remove bytes ${start}..${end}`,
  };
}

/** A member made by tar_writer: header, data, padding. */
function memberBytes(header: Uint8Array, data: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.ceil(data.length / BLOCK) * BLOCK);
  padded.set(data);
  return concat(header, padded);
}

function insertPax(tar: Uint8Array, rng: Random, headers: number[]): Mutated {
  const records: Record<string, string> = {};
  for (let n = 1 + rng.below(3); n > 0; n--) records[rng.pick(PAX_KEYS)] = rng.pick(PAX_VALUES);
  const global = rng.chance(0.25);
  const member = paxMember(records, global);
  let data = encoder.encode(member.data as string);
  let damage = "";
  if (rng.chance(0.15)) {
    // A record whose length does not match: one more or one fewer byte.
    const text = new TextDecoder().decode(data);
    const space = text.indexOf(" ");
    const length = Number(text.slice(0, space)) + rng.pick([-1, 1]);
    data = encoder.encode(`${length}${text.slice(space)}`);
    damage = " (record length off by one)";
  }
  const bytes = memberBytes(tarHeader({ ...member, data }), data);
  const to = headers.length > 0 ? rng.pick(headers) : 0;
  const shown = Object.entries(records).map(([key, value]) =>
    `${key}=${JSON.stringify(value.length > 30 ? `${value.slice(0, 30)}...` : value)}`
  );
  return {
    tar: concat(tar.subarray(0, to), bytes, tar.subarray(to)),
    description: `insert ${global ? "global " : ""}PAX {${shown.join(", ")}}${damage} at ${to}`,
  };
}

function insertLongName(tar: Uint8Array, rng: Random, headers: number[]): Mutated {
  const type = rng.pick(["L", "K"]);
  const name = rng.pick(INTERESTING_PATHS.concat(["n".repeat(300), "n".repeat(5000)]));
  const data = encoder.encode(`${name}\u0000`);
  // The declared size: honest, or far more (or less) than the data that follows.
  const size = rng.pick<number | bigint>([
    data.length,
    data.length + 1000,
    (1 << 20) + 1,
    2 ** 40,
    -1,
    -512,
    0,
  ]);
  const header = tarHeader({ name: "././@LongLink", type, size, magic: "gnu" });
  const bytes = memberBytes(header, data);
  const to = headers.length > 0 ? rng.pick(headers) : 0;
  return {
    tar: concat(tar.subarray(0, to), bytes, tar.subarray(to)),
    description: `insert '${type}' ${JSON.stringify(name.slice(0, 30))} (${name.length} bytes) ` +
      `declaring ${size} bytes at ${to}`,
  };
}

/** The tar mutations and how often each is drawn. Header-aware ones dominate: in a
 * busybox rootfs most bytes are the busybox binary, where a flip changes nothing but data. */
const TAR_MUTATIONS: readonly [TarMutation, number][] = [
  [flipBits, 3],
  [overwriteBytes, 2],
  [setNumericField, 6],
  [setTypeflag, 2],
  [setPathField, 2],
  [setMagic, 1],
  [truncate, 2],
  [duplicateBlocks, 2],
  [removeBlocks, 2],
  [insertPax, 3],
  [insertLongName, 2],
];
const TAR_WEIGHT = TAR_MUTATIONS.reduce((total, [, weight]) => total + weight, 0);

/** Applies one to three mutations, weighted; each sees the previous one's result. */
export function mutateTar(base: Uint8Array, rng: Random): Mutated {
  let tar = base;
  const done: string[] = [];
  for (let n = 1 + rng.below(3); n > 0; n--) {
    let draw = rng.below(TAR_WEIGHT);
    let mutation = TAR_MUTATIONS[0][0];
    for (const [candidate, weight] of TAR_MUTATIONS) {
      if (draw < weight) {
        mutation = candidate;
        break;
      }
      draw -= weight;
    }
    const result = mutation(tar, rng, headerOffsets(tar));
    tar = result.tar;
    done.push(result.description);
  }
  return { tar, description: done.join("; ") };
}

/** One mutation of the gzip stream itself: header flags, the deflate data, the CRC and
 * length trailer, truncation, bytes after the end. */
export function mutateGzip(gz: Uint8Array, rng: Random): { gz: Uint8Array; description: string } {
  const out = gz.slice();
  switch (rng.below(6)) {
    case 0: {
      const at = rng.below(10);
      out[at] ^= 1 << rng.below(8);
      return { gz: out, description: `gzip: flip a bit of header byte ${at}` };
    }
    case 1: {
      // FTEXT, FHCRC, FEXTRA, FNAME, FCOMMENT, reserved bits.
      const flag = 1 << rng.below(8);
      out[3] |= flag;
      return { gz: out, description: `gzip: set flag 0x${flag.toString(16)}` };
    }
    case 2: {
      const at = 10 + rng.below(Math.max(1, out.length - 18));
      out[at] ^= 1 << rng.below(8);
      return { gz: out, description: `gzip: flip a bit of deflate byte ${at}` };
    }
    case 3: {
      const at = out.length - 1 - rng.below(8);
      out[at] ^= 1 << rng.below(8);
      return { gz: out, description: `gzip: flip a bit of trailer byte ${at}` };
    }
    case 4: {
      const at = rng.below(out.length);
      return { gz: out.slice(0, at), description: `gzip: truncate at ${at}` };
    }
    default: {
      const extra = new Uint8Array(4 + rng.below(61));
      rng.fill(extra);
      if (rng.chance(0.5)) extra.set([0x1f, 0x8b, 8, 0]);
      return { gz: concat(out, extra), description: `gzip: ${extra.length} bytes after the end` };
    }
  }
}
