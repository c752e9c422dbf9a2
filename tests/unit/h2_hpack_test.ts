/**
 * HPACK and its Huffman code against RFC 7541's own examples (Appendix C) and codes (Appendix
 * B), and against header blocks a server could craft to break a decoder.
 */

import assert from "node:assert/strict";
import { decodeHuffman, huffmanCode } from "../../lib/rpc/h2/huffman.ts";
import {
  CompressionError,
  encodeHeaderBlock,
  type HeaderField,
  HpackDecoder,
} from "../../lib/rpc/h2/hpack.ts";

const hex = (text: string) =>
  new Uint8Array(text.replace(/\s/g, "").match(/../g)!.map((pair) => parseInt(pair, 16)));
const ascii = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("huffman: codes rebuilt from the lengths are RFC 7541 Appendix B's", () => {
  // symbol: [code as hex, length], as the RFC's table lists them
  const listed: Record<number, [number, number]> = {
    0: [0x1ff8, 13],
    1: [0x7fffd8, 23],
    10: [0x3ffffffc, 30],
    32: [0x14, 6],
    48: [0x0, 5],
    65: [0x21, 6],
    97: [0x3, 5],
    255: [0x3ffffee, 26],
    256: [0x3fffffff, 30],
  };
  for (const [symbol, [code, length]] of Object.entries(listed)) {
    assert.deepEqual(huffmanCode(Number(symbol)), { code, length }, `symbol ${symbol}`);
  }
});

Deno.test("huffman: the RFC's encoded strings decode (C.4, C.6)", () => {
  assert.equal(ascii(decodeHuffman(hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"))), "www.example.com");
  assert.equal(ascii(decodeHuffman(hex("a8eb 1064 9cbf"))), "no-cache");
  assert.equal(ascii(decodeHuffman(hex("25a8 49e9 5ba9 7d7f"))), "custom-key");
  assert.equal(ascii(decodeHuffman(hex("25a8 49e9 5bb8 e8b4 bf"))), "custom-value");
  assert.equal(ascii(decodeHuffman(hex("6402"))), "302");
  assert.equal(ascii(decodeHuffman(hex("aec3 771a 4b"))), "private");
  assert.equal(ascii(decodeHuffman(new Uint8Array(0))), "");
});

Deno.test("huffman: padding and EOS are checked (RFC 7541 5.2)", () => {
  // "0" is 00000: padded with three ones, fine; with zeros, not.
  assert.equal(ascii(decodeHuffman(hex("07"))), "0");
  assert.throws(() => decodeHuffman(hex("00")), /padding is not all ones/);
  // A whole byte of padding (eight ones) is more than 7 bits.
  assert.throws(() => decodeHuffman(hex("07 ff")), /longer than 7 bits/);
  // EOS (30 ones) inside the string.
  assert.throws(() => decodeHuffman(hex("ff ff ff ff")), /contains EOS/);
});

Deno.test("hpack: RFC 7541 C.3, requests without Huffman, through the dynamic table", () => {
  const decoder = new HpackDecoder();
  assert.deepEqual(
    decoder.decode(hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d")),
    [[":method", "GET"], [":scheme", "http"], [":path", "/"], [
      ":authority",
      "www.example.com",
    ]],
  );
  assert.deepEqual(decoder.decode(hex("8286 84be 5808 6e6f 2d63 6163 6865")), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
    ["cache-control", "no-cache"],
  ]);
  assert.deepEqual(
    decoder.decode(
      hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"),
    ),
    [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ],
  );
});

Deno.test("hpack: RFC 7541 C.4, the same requests Huffman-coded", () => {
  const decoder = new HpackDecoder();
  decoder.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"));
  decoder.decode(hex("8286 84be 5886 a8eb 1064 9cbf"));
  assert.deepEqual(
    decoder.decode(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")),
    [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ],
  );
});

Deno.test("hpack: entries are evicted oldest first, and a size update empties the table", () => {
  // A table of 64 bytes holds one entry of "aa: bb" (2 + 2 + 32 = 36), not two.
  const decoder = new HpackDecoder(64);
  const literal = (name: string, value: string) =>
    new Uint8Array([
      0x40,
      name.length,
      ...new TextEncoder().encode(name),
      value.length,
      ...new TextEncoder().encode(value),
    ]);
  decoder.decode(literal("aa", "bb"));
  assert.deepEqual(decoder.decode(hex("be")), [["aa", "bb"]]); // index 62: the newest entry
  decoder.decode(literal("cc", "dd"));
  assert.deepEqual(decoder.decode(hex("be")), [["cc", "dd"]]);
  assert.throws(() => decoder.decode(hex("bf")), /index 63 unknown/);
  // Size update to 0 (001 00000), then the entry is gone.
  assert.throws(() => decoder.decode(hex("20 be")), /index 62 unknown/);
  // An update above what this side advertised is an error.
  assert.throws(() => decoder.decode(hex("3f 22")), /above 64/); // 31 + 34 = 65
});

Deno.test("hpack: a crafted block is a compression error, never a crash or a hang", () => {
  const cases: Record<string, string> = {
    "index 0": "80",
    "an index past both tables": "ff 00", // 127
    "an integer that never ends": "ff ff ff ff ff ff ff",
    "an integer above 2^31": "ff ff ff ff ff 0f",
    // Zeros add nothing, but 147 of them made 2 ** shift Infinity and the value NaN.
    "an integer with more bytes than 2^31 needs": `3f ${"80 ".repeat(147)}00`,
    "a string longer than the block": "00 05 61 62",
    "a block ending before a string": "00",
    "a size update after a field": "82 20",
    "bad Huffman padding": "00 01 61 81 00",
  };
  for (const [what, block] of Object.entries(cases)) {
    assert.throws(() => new HpackDecoder().decode(hex(block)), CompressionError, what);
  }
  // More header bytes than the decoder allows (name, value and 32 per field).
  const big = new TextEncoder().encode("x".repeat(1000));
  // The value's length, 1000, is 127 + 873: 873 = 0x69 + 6 * 128.
  const block = new Uint8Array([0x00, 0x01, 0x61, 0x7f, 0x80 | 0x69, 6, ...big]);
  assert.equal(new HpackDecoder(4096, 1033).decode(block)[0][1].length, 1000);
  assert.throws(() => new HpackDecoder(4096, 1032).decode(block), /larger than 1032 bytes/);
});

Deno.test("hpack: the encoder's blocks decode to what was encoded, indexing nothing", () => {
  const fields: HeaderField[] = [
    [":method", "POST"],
    [":scheme", "https"],
    [":path", "/ijr.v1.JobService/GetJob"],
    [":authority", "worker-7.example:50051"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ["grpc-timeout", "1500m"],
    ["x-long", "v".repeat(300)],
  ];
  const block = encodeHeaderBlock(fields);
  // :method POST and :scheme https are static entries 3 and 7.
  assert.deepEqual([...block.subarray(0, 2)], [0x83, 0x87]);
  const decoder = new HpackDecoder();
  assert.deepEqual(decoder.decode(block), fields);
  // Nothing went into the dynamic table: index 62 does not exist.
  assert.throws(() => decoder.decode(hex("be")), /index 62 unknown/);
});
