import assert from "node:assert/strict";
import { libijr, readLibijrBytes } from "../../lib/native/mod.ts";

Deno.test("libijr loads from memfd bytes and reports the expected ABI", () => {
  assert.equal(libijr().ijr_abi_version(), 2);
  // The library really is an ELF image read from build/, not something on the loader path.
  assert.deepEqual([...readLibijrBytes().subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
});

Deno.test("a buffer crosses the FFI boundary and the C result comes back intact", () => {
  // FNV-1a 64 test vectors: "" and "a" (from the algorithm's reference), and 1 MiB of
  // bytes hashed in TypeScript for comparison.
  const hash = (bytes: Uint8Array<ArrayBuffer>) =>
    libijr().ijr_fnv1a64(bytes, BigInt(bytes.length));
  assert.equal(hash(new Uint8Array(0)), 0xcbf29ce484222325n);
  assert.equal(hash(new TextEncoder().encode("a")), 0xaf63dc4c8601ec8cn);
  const big = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
  let expected = 0xcbf29ce484222325n;
  for (const byte of big) {
    expected = ((expected ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  assert.equal(hash(big), expected);
});

Deno.test("the library is mapped from a memfd, not from a file on disk", () => {
  libijr();
  const maps = Deno.readTextFileSync("/proc/self/maps");
  assert.match(maps, /\/memfd:libijr\.so \(deleted\)/);
  assert.doesNotMatch(maps, /build\/libijr\.so/);
});
