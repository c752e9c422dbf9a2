import assert from "node:assert/strict";
import { libijr, readLibijrBytes } from "../../lib/native/mod.ts";
import { abiHash } from "../../lib/native/abi.ts";

Deno.test("libijr loads from memfd bytes and was built from this code's ABI declaration", () => {
  assert.equal(libijr().ijr_abi_hash(), abiHash());
  // The library really is an ELF image read from build/, not something on the loader path.
  assert.deepEqual([...readLibijrBytes().subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
});

Deno.test("the library is mapped from a memfd, not from a file on disk", () => {
  libijr();
  const maps = Deno.readTextFileSync("/proc/self/maps");
  assert.match(maps, /\/memfd:libijr\.so \(deleted\)/);
  assert.doesNotMatch(maps, /build\/libijr\.so/);
});
