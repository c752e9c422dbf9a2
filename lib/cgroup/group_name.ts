/**
 * The name of a user's group: the cgroup every job of one owner lives in, between the job
 * parent and the job (`<parent>/user-alice-2bd806c9/<jobId>`), as systemd puts a user's
 * sessions in `user-UID.slice`. An owner is an identity string (a certificate CN: any UTF-8,
 * any length), so the name is built, never copied:
 *
 * - `user-`, a readable slug of the owner (letters without accents, lower case, digits; every
 *   other run of characters one "-"; at most {@link MAX_SLUG_LENGTH} characters), "-", and the
 *   first 8 hex digits of the SHA-256 of the owner's UTF-8 bytes; `user-<8 hex>` when nothing
 *   of the owner is left for a slug. "Alice Smith" -> `user-alice-smith-<8 hex>`.
 * - Safe: only [a-z0-9-], never "." or "..", at most 46 characters, so it is one directory
 *   name on every file system and names no cgroup interface file.
 * - Stable: the same owner gets the same name in every run of ijrd, so a restarted daemon
 *   finds its groups again.
 * - Collision-resistant: the hash is of the whole owner, exactly as given; owners that share
 *   a slug ("alice", "Alice", "alice!") still differ in it.
 * @module
 */

import { createHash } from "node:crypto";
import { invalidArgument } from "../errors/mod.ts";

/** The most characters the readable part of a group name keeps of its owner. */
export const MAX_SLUG_LENGTH = 32;

/** How many hex digits of the owner's SHA-256 a group name carries. */
const HASH_DIGITS = 8;

/** The longest group name: "user-" + slug + "-" + 8 hex digits. */
const MAX_GROUP_NAME_LENGTH = "user-".length + MAX_SLUG_LENGTH + 1 + HASH_DIGITS;

/** What {@link userGroupName} makes: `user-`, an optional slug and "-", 8 hex digits. */
const GROUP_NAME_PATTERN = /^user-(?:[a-z0-9]+(?:-[a-z0-9]+)*-)?[0-9a-f]{8}$/;

/** The readable part of a group name: the owner in [a-z0-9-], at most 32 characters. */
function slugOf(owner: string): string {
  return owner
    // "é" becomes "e" + a combining accent, which goes: names stay readable in `ls`.
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, MAX_SLUG_LENGTH)
    .replace(/-+$/, "");
}

/** The group of the jobs of `owner` (an identity string, a certificate CN). */
export function userGroupName(owner: string): string {
  const hash = createHash("sha256").update(owner, "utf8").digest("hex").slice(0, HASH_DIGITS);
  const slug = slugOf(owner);
  return slug === "" ? `user-${hash}` : `user-${slug}-${hash}`;
}

/** True for a name {@link userGroupName} can make (and so for no job ID IJR makes). */
export function isGroupName(name: string): boolean {
  return name.length <= MAX_GROUP_NAME_LENGTH && GROUP_NAME_PATTERN.test(name);
}

/** Throws INVALID_ARGUMENT unless `group` is a group name (see {@link userGroupName}). */
export function validateGroupName(group: string): void {
  if (!isGroupName(group)) {
    throw invalidArgument(
      `"${group}" is not a group name: groups are named by userGroupName(owner), ` +
        `e.g. "user-alice-2bd806c9"`,
    );
  }
}
