import assert from "node:assert/strict";
import { IjrError } from "../../lib/errors/mod.ts";
import { normalizeMemberPath } from "../../lib/rootfs/extractor.ts";
import { DEFAULT_ROOTFS_LIMITS, resolveRootfsLimits } from "../../lib/rootfs/limits.ts";
import { isValidRootfsName, validateRootfsName } from "../../lib/rootfs/names.ts";

function rejection(name: string): string {
  try {
    validateRootfsName(name);
  } catch (error) {
    assert.ok(error instanceof IjrError);
    assert.equal(error.code, "INVALID_ARGUMENT");
    return error.message;
  }
  throw new Error(`${JSON.stringify(name)} was accepted`);
}

Deno.test("valid rootfs names", () => {
  for (const name of ["a", "0", "busybox", "debian-12.5", "alpine_3.20", "a..b", "x".repeat(63)]) {
    assert.ok(isValidRootfsName(name), name);
    validateRootfsName(name);
  }
});

Deno.test("invalid rootfs names are INVALID_ARGUMENT with the reason", () => {
  assert.equal(
    rejection(""),
    'invalid rootfs name "": it is empty (pattern [a-z0-9][a-z0-9._-]{0,62})',
  );
  assert.match(rejection("x".repeat(64)), /it is 64 characters long \(at most 63\)/);
  for (const name of [".", "..", ".hidden", ".tmp-abc", "-x", "_x", "../x", "/abs", "Upper"]) {
    assert.match(rejection(name), /must start with a lower-case letter or a digit/, name);
  }
  for (const name of ["a/b", "a/../b", "upPer", "xümlaut", "a b", "a\u0000b", "a\nb", "x:y"]) {
    assert.match(rejection(name), /may only contain lower-case letters, digits/, name);
  }
});

Deno.test("member paths are normalised for the kernel, keeping '..' for it to confine", () => {
  const normalize = (path: string) =>
    new TextDecoder().decode(normalizeMemberPath(new TextEncoder().encode(path)));
  assert.equal(normalize("./"), "");
  assert.equal(normalize("."), "");
  assert.equal(normalize("/"), "");
  assert.equal(normalize("./bin/sh"), "bin/sh");
  assert.equal(normalize("usr//lib/./x/"), "usr/lib/x");
  assert.equal(normalize("/etc/passwd"), "etc/passwd");
  assert.equal(normalize("../../etc/passwd"), "../../etc/passwd");
  assert.equal(normalize("a/.../b"), "a/.../b");
  assert.equal(normalize(".hidden/.x"), ".hidden/.x");
});

Deno.test("limits: defaults documented, overrides validated", () => {
  assert.deepEqual({ ...DEFAULT_ROOTFS_LIMITS }, {
    maxCompressedBytes: 2 * 1024 ** 3,
    maxExtractedBytes: 8 * 1024 ** 3,
    maxEntries: 500_000,
    maxPathBytes: 4096,
  });
  assert.equal(resolveRootfsLimits({ maxEntries: 10 }).maxEntries, 10);
  assert.throws(
    () => resolveRootfsLimits({ maxEntries: 0 }),
    /maxEntries must be a positive integer/,
  );
  assert.throws(() => resolveRootfsLimits({ maxPathBytes: 5000 }), /at most 4096/);
  assert.throws(() => resolveRootfsLimits({ maxCompressedBytes: 1.5 }), /positive integer/);
});
