/**
 * Byte sizes as users write them: a whole number with an optional unit, (b)ytes,
 * (k)ilobytes, (m)egs or (g)igs, 1024-based, as `ijrctl job start --memory` documents it
 * ("100", "1024k", "2m"). Shared by ijrctl (parsing flags) and ijrd (limits).
 * @module
 */

const UNIT_BYTES: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Parses a size into bytes; throws an error naming the input when it is not valid. */
export function parseByteSize(text: string): number {
  const match = text.trim().match(/^(\d+)([a-zA-Z]*)$/);
  if (!match) {
    throw new Error(`invalid size "${text}": use a number with an optional unit b, k, m or g`);
  }
  const unit = match[2].toLowerCase() || "b";
  const multiplier = UNIT_BYTES[unit];
  if (multiplier === undefined) {
    throw new Error(`unknown unit "${match[2]}" in "${text}": use b, k, m or g`);
  }
  const bytes = Number(match[1]) * multiplier;
  if (!Number.isSafeInteger(bytes)) throw new Error(`size "${text}" is too large`);
  if (bytes === 0) throw new Error(`size must be greater than zero, got "${text}"`);
  return bytes;
}

/** Formats bytes for people: "100 B", "32.0 MiB". */
export function formatByteSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
