/**
 * Group names from owners (lib/cgroup/group_name.ts): exact names (the hashes checked with
 * `printf %s OWNER | sha256sum`), safe for any owner, distinct for owners that share a slug,
 * and the pattern that tells a group from a job directly under the parent.
 */
import assert from "node:assert/strict";
import { isGroupName, userGroupName, validateGroupName } from "../../lib/cgroup/group_name.ts";
import { validateJobId } from "../../lib/cgroup/paths.ts";
import { IjrError } from "../../lib/errors/mod.ts";

function assertInvalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof IjrError, `expected IjrError, got ${error}`);
    assert.equal(error.code, "INVALID_ARGUMENT");
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("cgroup group names: user-<slug>-<8 hex of sha256(owner)>, exactly", () => {
  const expected: [owner: string, name: string][] = [
    ["alice", "user-alice-2bd806c9"],
    ["Alice", "user-alice-3bc51062"],
    ["alice!", "user-alice-80bc9a5a"],
    ["Alice Smith", "user-alice-smith-8ae10dfc"],
    // Accents go, the letters stay.
    ["Zoë Ünïcode", "user-zoe-unicode-33633310"],
    // Nothing of it fits a slug: the hash alone.
    ["日本語", "user-77710aed"],
    ["", "user-e3b0c442"],
    ["CN=admin,OU=x", "user-cn-admin-ou-x-cabcc535"],
    // The slug keeps 32 characters; the hash is of all 100.
    ["a".repeat(100), `user-${"a".repeat(32)}-28165978`],
  ];
  for (const [owner, name] of expected) {
    assert.equal(userGroupName(owner), name, JSON.stringify(owner));
    assert.equal(isGroupName(name), true, name);
  }
});

Deno.test("cgroup group names: stable, and distinct for owners with the same slug", () => {
  assert.equal(userGroupName("bob"), userGroupName("bob"));
  const sameSlug = ["bob", "Bob", "BOB", "bob!", " bob", "bob.", "böb"];
  const names = sameSlug.map(userGroupName);
  assert.equal(new Set(names).size, sameSlug.length, names.join(" "));
  for (const name of names) assert.match(name, /^user-bob-[0-9a-f]{8}$/);
});

Deno.test("cgroup group names: any owner becomes one safe directory name", () => {
  const hostile = [
    "..",
    ".",
    "/",
    "../../etc",
    "a/b",
    "cpu.shares",
    "tasks",
    "cgroup.procs",
    "x\0y",
    "line\nbreak",
    "\u202eevil",
    "🙂🙂🙂",
    "-",
    "a--b",
    "x".repeat(10_000),
    "x".repeat(31) + " yz",
    "ijr-daemon",
  ];
  for (const owner of hostile) {
    const name = userGroupName(owner);
    assert.match(name, /^user-[a-z0-9-]*[0-9a-f]{8}$/, JSON.stringify(owner));
    assert.ok(name.length <= 46, `${name} is ${name.length} characters`);
    assert.doesNotMatch(name, /--|-$/, name);
    assert.equal(isGroupName(name), true, name);
  }
  assert.equal(userGroupName("x".repeat(31) + " yz"), `user-${"x".repeat(31)}-ce127ae4`);
  assert.equal(userGroupName("a--b"), `user-a-b-${userGroupName("a--b").slice(-8)}`);
});

Deno.test("cgroup group names: what is not a group name", () => {
  for (
    const name of [
      "user-alice",
      "user-Alice-2bd806c9",
      "user--2bd806c9",
      "user-alice--2bd806c9",
      "user-alice-2bd806c",
      "user-alice-2BD806C9",
      "user-alice-2bd806c9x",
      "../user-alice-2bd806c9",
      `user-${"a".repeat(33)}-2bd806c9`,
      "0123456789abcdef",
      "bomb-a",
      "ijr-daemon",
    ]
  ) {
    assert.equal(isGroupName(name), false, name);
  }
  assert.equal(isGroupName(`user-${"a".repeat(32)}-2bd806c9`), true);
  assertInvalid(() => validateGroupName("alice"), /^"alice" is not a group name/);
  assertInvalid(() => validateGroupName("../x"), /^"\.\.\/x" is not a group name/);
  validateGroupName("user-alice-2bd806c9");
});

Deno.test("cgroup group names: a job ID shaped like a group name is refused", () => {
  assertInvalid(
    () => validateJobId("user-alice-2bd806c9"),
    /^job ID "user-alice-2bd806c9" cannot name a cgroup: it is shaped like a group name$/,
  );
  validateJobId("0123456789abcdef");
  validateJobId("user-alice");
});
