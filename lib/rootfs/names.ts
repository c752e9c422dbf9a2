/**
 * Root file system names. A name is a folder of the store, so it must be one safe path
 * component: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit
 * (so never ".", "..", a hidden name, or the store's own ".tmp-" and ".del-" folders).
 * @module
 */

import { invalidArgument } from "../errors/mod.ts";

/** The pattern every rootfs name matches. */
export const ROOTFS_NAME_PATTERN: RegExp = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** True when name is a valid rootfs name. */
export function isValidRootfsName(name: string): boolean {
  return ROOTFS_NAME_PATTERN.test(name);
}

/** Throws INVALID_ARGUMENT, saying what is wrong, unless name is a valid rootfs name. */
export function validateRootfsName(name: string): void {
  if (isValidRootfsName(name)) return;
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name);
  let reason: string;
  if (name.length === 0) reason = "it is empty";
  else if (name.length > 63) reason = `it is ${name.length} characters long (at most 63)`;
  else if (!/^[a-z0-9]/.test(name)) reason = "it must start with a lower-case letter or a digit";
  else reason = "it may only contain lower-case letters, digits, '.', '_' and '-'";
  throw invalidArgument(
    `invalid rootfs name ${shown}: ${reason} (pattern [a-z0-9][a-z0-9._-]{0,62})`,
  );
}
