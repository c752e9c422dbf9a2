/**
 * A streaming tar parser: bytes go in as they arrive (`push`), entries and their data come
 * out through a synchronous sink, and nothing but one header block and the current
 * extended header is ever buffered. Reads POSIX ustar, GNU tar (long names and links 'L'/'K',
 * base-256 numbers) and PAX ('x' and 'g' headers: path, linkpath, size, mtime, uid, gid).
 *
 * It is strict where a lax parser would hide damage: every header's checksum is verified,
 * the archive must end with its end-of-archive block, and an archive that stops inside a
 * header or a file is reported as truncated. Every numeric field (size, mode, uid, gid,
 * mtime, device numbers, and their PAX records) is read by one reader per field kind that
 * checks its range: a negative size once made the parser step back over its own header
 * without end. Paths are kept as raw bytes (file names in a rootfs need not be UTF-8); they
 * are not interpreted here.
 * @module
 */

import { IjrError, invalidArgument } from "../errors/mod.ts";

/** The kinds of archive members. */
export type TarEntryType =
  | "file"
  | "directory"
  | "symlink"
  | "hardlink"
  | "character-device"
  | "block-device"
  | "fifo";

/** One archive member, with its extended headers applied. */
export interface TarEntry {
  /** What the member is. */
  readonly type: TarEntryType;
  /** The member's path, raw bytes as in the archive (not normalised). */
  readonly path: Uint8Array;
  /** Symlink target or hard link source, raw bytes; empty for other types. */
  readonly linkPath: Uint8Array;
  /** Permission bits including setuid, setgid and sticky (mode & 0o7777). */
  readonly mode: number;
  /** Owner user ID. */
  readonly uid: number;
  /** Owner group ID. */
  readonly gid: number;
  /** Data bytes that follow: delivered to the sink for files, skipped for a GNU dumpdir,
   * 0 for other types (whatever their size field says). */
  readonly size: number;
  /** Modification time, whole seconds since the epoch (may be negative). */
  readonly mtimeSec: number;
  /** Modification time, nanoseconds part (PAX mtimes carry fractions). */
  readonly mtimeNsec: number;
  /** Device major number (devices only). */
  readonly devMajor: number;
  /** Device minor number (devices only). */
  readonly devMinor: number;
  /** Byte offset of the member's header in the (uncompressed) archive. */
  readonly offset: number;
}

/** Receives the parsed archive, synchronously and in order. */
export interface TarSink {
  /** A member starts. */
  entry(entry: TarEntry): void;
  /** The next bytes of the current file's data (only for type "file"); the view is valid
   * only during the call. All calls together deliver exactly `entry.size` bytes. */
  data(bytes: Uint8Array): void;
  /** The current member is complete. */
  entryEnd(): void;
}

/** Bounds that keep a hostile archive from making the parser buffer or skip without end. */
export interface TarParserOptions {
  /** Longest member path or link target, in bytes (RESOURCE_EXHAUSTED beyond). */
  maxPathBytes: number;
  /** Total data bytes of all members and extended headers (RESOURCE_EXHAUSTED beyond);
   * checked against declared sizes, before any data is read. */
  maxContentBytes: number;
  /** Largest PAX or GNU long-name header. Default 1 MiB. */
  maxExtendedHeaderBytes?: number;
  /** Bytes tolerated after the end-of-archive block (tar pads to its record size). Default
   * 16 MiB. */
  maxTrailingBytes?: number;
}

const BLOCK = 512;
const MAX_EXTENDED_IN_A_ROW = 8;

const enum State {
  Header,
  Data,
  Padding,
  End,
}

const enum Target {
  Sink,
  Extended,
  Skip,
}

/** Fields a PAX header can override: undefined = not set, null = removed (an empty value),
 * so the header block's own field applies even over a global setting. Numbers stay text
 * until the member they apply to is known, so a bad one is reported by its name. */
interface Overrides {
  path?: Uint8Array | null;
  linkPath?: Uint8Array | null;
  size?: string | null;
  mtime?: string | null;
  uid?: string | null;
  gid?: string | null;
}

/** The PAX value in force: the member's own ('x') record, else the global ('g') one;
 * undefined when the header block's own field applies. */
function override<T>(local: T | null | undefined, global: T | null | undefined): T | undefined {
  if (local !== undefined) return local ?? undefined;
  return global ?? undefined;
}

const lossy = new TextDecoder();

/** A path's bytes as text for messages (invalid UTF-8 shown as U+FFFD). */
export function describePath(path: Uint8Array): string {
  return JSON.stringify(lossy.decode(path));
}

function corrupt(offset: number, message: string): IjrError {
  return invalidArgument(`corrupt tar archive at byte ${offset}: ${message}`);
}

/** A state the parser must never reach: a bug here, not damage in the archive. */
function broken(message: string): IjrError {
  return new IjrError("INTERNAL", `tar parser invariant broken: ${message}`);
}

function exhausted(message: string): IjrError {
  return new IjrError("RESOURCE_EXHAUSTED", message);
}

/** The bytes of a NUL-terminated field, copied. */
function field(block: Uint8Array, at: number, length: number): Uint8Array {
  let end = at;
  const limit = at + length;
  while (end < limit && block[end] !== 0) end++;
  return block.slice(at, end);
}

/** The path a header block names: its name field, after the ustar prefix field if any. */
function headerName(block: Uint8Array, at: number, posix: boolean): Uint8Array {
  const name = field(block, at, 100);
  const prefix = posix ? field(block, at + 345, 155) : undefined;
  if (!prefix || prefix.length === 0) return name;
  const joined = new Uint8Array(prefix.length + 1 + name.length);
  joined.set(prefix);
  joined[prefix.length] = 0x2f;
  joined.set(name, prefix.length + 1);
  return joined;
}

/** A numeric header field: where it is in the block and the values that are valid. */
interface NumericField {
  /** The field's name in messages (as GNU tar's documentation spells it). */
  readonly name: string;
  readonly at: number;
  readonly length: number;
  readonly min: number;
  readonly max: number;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** uid_t and gid_t are 32 bits; 4294967295 is (uid_t)-1, which chown reads as "no change". */
const MAX_ID = 4294967294;

/** Sizes are byte counts the parser adds and skips: non-negative and exact in a double. */
const SIZE: NumericField = { name: "size", at: 124, length: 12, min: 0, max: MAX_SAFE };
/** Seven octal digits and a NUL; the bits above 0o7777 (file type bits some old tars wrote)
 * are dropped after the check. */
const MODE: NumericField = { name: "mode", at: 100, length: 8, min: 0, max: 0o7777777 };
const UID: NumericField = { name: "uid", at: 108, length: 8, min: 0, max: MAX_ID };
const GID: NumericField = { name: "gid", at: 116, length: 8, min: 0, max: MAX_ID };
/** Before 1970 is negative and fine; beyond a safe integer would not survive as a number.
 * (utimensat takes any 64-bit time and the file system clamps it.) */
const MTIME: NumericField = { name: "mtime", at: 136, length: 12, min: -MAX_SAFE, max: MAX_SAFE };
/** What the kernel's dev_t encodes: a 12-bit major and a 20-bit minor. */
const DEVMAJOR: NumericField = { name: "devmajor", at: 329, length: 8, min: 0, max: 0xfff };
const DEVMINOR: NumericField = { name: "devminor", at: 337, length: 8, min: 0, max: 0xfffff };
const CHECKSUM_AT = 148;

/** The header a number belongs to, for messages: its offset and its member's path. */
interface Where {
  readonly offset: number;
  readonly path: Uint8Array;
}

/**
 * The raw value of a numeric field: octal digits (optionally space-padded, ended by NUL or
 * space; all NULs is 0, all spaces is not a number), after one leading NUL if there is one, as
 * GNU tar reads it (old tars left one when the previous field overflowed: read as the end of
 * an empty field, a size would misframe every member after it), or GNU base-256 when the
 * first byte has its high bit set (a big-endian two's complement number in the remaining
 * bits: large values, negative mtimes).
 * Octal comes back as a number (12 digits are exact), base-256 as a bigint, so a huge or
 * negative value is seen exactly before anything converts it. undefined: not a number.
 */
function rawNumber(block: Uint8Array, at: number, length: number): number | bigint | undefined {
  const first = block[at];
  if (first & 0x80) {
    let value = BigInt(first & 0x7f);
    for (let i = 1; i < length; i++) value = (value << 8n) | BigInt(block[at + i]);
    if (first & 0x40) value -= 1n << BigInt(length * 8 - 1);
    return value;
  }
  let i = first === 0 ? at + 1 : at;
  const end = at + length;
  while (i < end && block[i] === 0x20) i++;
  if (i === end) return undefined; // only blanks (GNU tar refuses them too)
  let value = 0;
  for (; i < end; i++) {
    const c = block[i];
    if (c >= 0x30 && c <= 0x37) value = value * 8 + (c - 0x30);
    else if (c === 0 || c === 0x20) break;
    else return undefined;
  }
  return value;
}

function outOfRange(where: Where, what: string, field: NumericField): IjrError {
  return corrupt(
    where.offset,
    `member ${describePath(where.path)} has ${what}, out of range ${field.min}..${field.max}`,
  );
}

/** Reads a numeric header field and checks it against its range. */
function readNumber(block: Uint8Array, at: number, field: NumericField, where: Where): number {
  const value = rawNumber(block, at + field.at, field.length);
  if (value === undefined) {
    const text = latin1(block.subarray(at + field.at, at + field.at + field.length));
    throw corrupt(
      where.offset,
      `member ${describePath(where.path)} has a ${field.name} field that is not an octal ` +
        `number: ${JSON.stringify(text)}`,
    );
  }
  // Comparing a bigint with a number is exact in JavaScript.
  if (value < field.min || value > field.max) {
    throw outOfRange(where, `${field.name} ${value}`, field);
  }
  return Number(value);
}

/** A PAX value for a message: quoted, and shortened when long. */
function shownPaxValue(text: string): string {
  if (text.length <= 40) return JSON.stringify(text);
  return `${JSON.stringify(`${text.slice(0, 40)}...`)} (${text.length} bytes)`;
}

/** Decimal digits of a PAX number without the leading zeros; short enough to convert
 * exactly (longer ones are out of every range). */
function significant(digits: string): string {
  const start = digits.search(/[^0]/);
  return start < 0 ? "0" : digits.slice(start);
}

/** Reads a PAX decimal record (size, uid, gid) against the range of its header field. */
function readPaxNumber(text: string, field: NumericField, where: Where): number {
  const match = /^(-?)(\d+)$/.exec(text);
  if (!match) {
    throw corrupt(
      where.offset,
      `member ${describePath(where.path)} has PAX ${field.name} ${shownPaxValue(text)}, not a ` +
        "decimal number",
    );
  }
  const digits = significant(match[2]);
  const value = digits.length > 16 ? Infinity : Number(digits) * (match[1] ? -1 : 1);
  if (!(value >= field.min && value <= field.max) || !Number.isSafeInteger(value)) {
    throw outOfRange(where, `PAX ${field.name} ${shownPaxValue(text)}`, field);
  }
  return value === 0 ? 0 : value; // never -0
}

/** A PAX time ("1700000000.5", "-1.25") as whole seconds plus nanoseconds; the seconds
 * within the mtime field's range. */
function readPaxTime(text: string, where: Where): { sec: number; nsec: number } {
  const match = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (!match) {
    throw corrupt(
      where.offset,
      `member ${describePath(where.path)} has PAX mtime ${shownPaxValue(text)}, not a valid time`,
    );
  }
  const digits = significant(match[2]);
  const whole = digits.length > 16 ? Infinity : Number(digits);
  const nsec = Number((match[3] ?? "").slice(0, 9).padEnd(9, "0"));
  const time = match[1] !== "-"
    ? { sec: whole, nsec }
    : nsec === 0
    ? { sec: -whole, nsec: 0 }
    : { sec: -whole - 1, nsec: 1_000_000_000 - nsec };
  if (!(time.sec >= MTIME.min && time.sec <= MTIME.max) || !Number.isSafeInteger(time.sec)) {
    throw outOfRange(where, `PAX mtime ${shownPaxValue(text)}`, MTIME);
  }
  if (time.sec === 0) time.sec = 0; // never -0
  return time;
}

function isZeroBlock(block: Uint8Array, at: number): boolean {
  for (let i = at; i < at + BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Verifies the header checksum: the byte sum with the checksum field read as spaces. Old
 * tars summed signed bytes; both sums are accepted, as GNU tar does. */
function checksumMatches(block: Uint8Array, at: number): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = at; i < at + BLOCK; i++) {
    const byte = i >= at + 148 && i < at + 156 ? 0x20 : block[i];
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  // Not even a number: not a header. Base-256 is read too, as GNU tar does.
  const stored = rawNumber(block, at + CHECKSUM_AT, 8);
  if (stored === undefined) return false;
  return Number(stored) === unsigned || Number(stored) === signed;
}

/** Bytes as text, one character per byte. In slices: spreading hundreds of kilobytes into
 * String.fromCharCode's arguments overflows the stack (a RangeError, not a message). */
function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let at = 0; at < bytes.length; at += 8192) {
    text += String.fromCharCode(...bytes.subarray(at, at + 8192));
  }
  return text;
}

/** Applies the records of a PAX extended header ("<length> <key>=<value>\n"...). */
function parsePax(data: Uint8Array, into: Overrides, offset: number, global: boolean): void {
  let at = 0;
  while (at < data.length) {
    // At most 9 digits and the space: a longer run is malformed, however long it is.
    let space = at;
    while (space < data.length && space - at <= 9 && data[space] !== 0x20) space++;
    const lengthText = latin1(data.subarray(at, space));
    if (!/^\d{1,9}$/.test(lengthText) || data[space] !== 0x20) {
      // GNU tar pads with NULs after the last record in some versions: accept trailing NULs.
      if (data.subarray(at).every((byte) => byte === 0)) return;
      throw corrupt(offset, "malformed PAX record length");
    }
    const length = Number(lengthText);
    const end = at + length;
    if (length <= space - at + 1 || end > data.length || data[end - 1] !== 0x0a) {
      throw corrupt(offset, "malformed PAX record");
    }
    const record = data.subarray(space + 1, end - 1);
    const equals = record.indexOf(0x3d);
    if (equals <= 0) throw corrupt(offset, "PAX record without a key");
    const key = latin1(record.subarray(0, equals));
    const value = record.slice(equals + 1);
    // An empty value removes the setting (POSIX): a global one is forgotten, a local one
    // makes the header block's field apply even over a global setting.
    const present = value.length > 0;
    const removed = global ? undefined : null;
    switch (key) {
      case "path":
        into.path = present ? value : removed;
        break;
      case "linkpath":
        into.linkPath = present ? value : removed;
        break;
      // Numbers are checked when the member they apply to is read (readPaxNumber).
      case "size":
      case "uid":
      case "gid":
      case "mtime":
        into[key] = present ? latin1(value) : removed;
        break;
      default:
        if (key.startsWith("GNU.sparse.")) {
          throw invalidArgument(
            `unsupported tar archive at byte ${offset}: sparse files are not supported ` +
              "(create the tarball without --sparse)",
          );
        }
        // Anything else (atime, ctime, uname, gname, comment, charset, vendor keys) does not
        // change what is extracted.
    }
    at = end;
  }
}

const TYPES: Record<number, TarEntryType> = {
  0x30: "file", // '0'
  0x00: "file", // '\0': pre-POSIX regular file
  0x37: "file", // '7': contiguous file, a regular file everywhere but on one old Unix
  0x31: "hardlink", // '1'
  0x32: "symlink", // '2'
  0x33: "character-device", // '3'
  0x34: "block-device", // '4'
  0x35: "directory", // '5'
  0x36: "fifo", // '6'
  0x44: "directory", // 'D': GNU dumpdir, a directory followed by a listing we skip
};

const UNSUPPORTED: Record<number, string> = {
  0x53: "GNU sparse files ('S')",
  0x4d: "multi-volume continuation ('M')",
  0x4e: "obsolete GNU long names ('N')",
};

/** A streaming tar parser; see the module documentation. */
export class TarParser {
  readonly #sink: TarSink;
  readonly #maxPath: number;
  readonly #maxContent: number;
  readonly #maxExtended: number;
  readonly #maxTrailing: number;

  #state = State.Header;
  readonly #header = new Uint8Array(BLOCK);
  #headerFill = 0;
  /** Bytes consumed so far: the offset of the next byte. */
  #position = 0;
  /** Offset of the current member's header, for messages. */
  #entryOffset = 0;
  #target = Target.Skip;
  #remaining = 0;
  #padding = 0;
  #content = 0;
  #trailing = 0;
  #extendedInARow = 0;
  #extended: Uint8Array = new Uint8Array(0);
  #extendedFill = 0;
  #extendedType = 0;
  /** The records of the 'x' header before the next member, and of the last 'g' header.
   * Read as GNU tar reads them: a second 'x' header replaces the first, a 'g' header
   * replaces the previous one (libarchive too), and PAX paths (local or global) win over
   * GNU long names in whichever order they come. */
  #local: Overrides = {};
  #global: Overrides = {};
  /** The GNU long name ('L') and link target ('K') of the next member; a second one of a
   * kind replaces the first. */
  #longName: Uint8Array | undefined;
  #longLink: Uint8Array | undefined;
  #entries = 0;

  constructor(sink: TarSink, options: TarParserOptions) {
    this.#sink = sink;
    this.#maxPath = options.maxPathBytes;
    this.#maxContent = options.maxContentBytes;
    this.#maxExtended = options.maxExtendedHeaderBytes ?? 1 << 20;
    this.#maxTrailing = options.maxTrailingBytes ?? 16 << 20;
  }

  /** Bytes consumed so far. */
  get position(): number {
    return this.#position;
  }

  /** Members seen so far (extended headers not counted). */
  get entries(): number {
    return this.#entries;
  }

  /** True once the end-of-archive block has been read. */
  get ended(): boolean {
    return this.#state === State.End;
  }

  /** Feeds the next bytes of the archive. Throws IjrError on a malformed archive. */
  push(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      // Every step consumes at least one byte: the parser never stands still or moves back
      // (it once did, over a header with a negative size, until memory ran out).
      const before = i;
      switch (this.#state) {
        case State.Header: {
          if (this.#headerFill === 0 && n - i >= BLOCK) {
            this.#onHeader(chunk, i);
            i += BLOCK;
            break;
          }
          const take = Math.min(BLOCK - this.#headerFill, n - i);
          this.#header.set(chunk.subarray(i, i + take), this.#headerFill);
          this.#headerFill += take;
          i += take;
          if (this.#headerFill === BLOCK) {
            this.#headerFill = 0;
            this.#onHeader(this.#header, 0);
          }
          break;
        }
        case State.Data: {
          const take = Math.min(this.#remaining, n - i);
          this.#onData(chunk.subarray(i, i + take));
          i += take;
          this.#position += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#endData();
          break;
        }
        case State.Padding: {
          const take = Math.min(this.#padding, n - i);
          i += take;
          this.#position += take;
          this.#padding -= take;
          if (this.#padding === 0) this.#state = State.Header;
          break;
        }
        case State.End: {
          this.#trailing += n - i;
          this.#position += n - i;
          i = n;
          if (this.#trailing > this.#maxTrailing) {
            throw invalidArgument(
              `tar archive has more than ${this.#maxTrailing} bytes after its end-of-archive block`,
            );
          }
          break;
        }
      }
      if (!(i > before && i <= n)) {
        throw broken(
          `a step went from chunk byte ${before} to ${i} (archive byte ${this.#position})`,
        );
      }
    }
  }

  /** Declares the input complete; throws INVALID_ARGUMENT if the archive is truncated. */
  finish(): void {
    if (this.#state === State.End) return;
    if (this.#position === 0 && this.#headerFill === 0) {
      throw invalidArgument("not a tar archive: it is empty after decompression");
    }
    const at = this.#position + this.#headerFill;
    if (this.#state === State.Header && this.#headerFill === 0) {
      throw invalidArgument(
        `truncated tar archive: it ends at byte ${at} without the end-of-archive block`,
      );
    }
    const where = this.#state === State.Header ? "a header" : "the data of the member";
    throw invalidArgument(
      `truncated tar archive: it ends at byte ${at}, inside ${where} at byte ${this.#entryOffset}`,
    );
  }

  #onHeader(block: Uint8Array, at: number): void {
    const offset = this.#position;
    this.#entryOffset = offset;
    this.#position += BLOCK;
    if (block[at] === 0 && isZeroBlock(block, at)) {
      // The first zero block ends the archive (the second, and tar's record padding, are
      // trailing bytes). Extended headers with no member after them are damage.
      if (this.#extendedInARow > 0) throw corrupt(offset, "extended header without a member");
      this.#state = State.End;
      return;
    }
    if (!checksumMatches(block, at)) {
      if (offset === 0) {
        throw invalidArgument(
          "not a tar archive: the first header's checksum is wrong (upload a gzipped tarball)",
        );
      }
      throw corrupt(offset, "header checksum mismatch");
    }
    const posix = block[at + 257] === 0x75 &&
      latin1(block.subarray(at + 257, at + 263)) === "ustar\0";
    const gnu = !posix && latin1(block.subarray(at + 257, at + 265)) === "ustar  \0";
    if (!posix && !gnu) {
      throw invalidArgument(
        `unsupported tar archive at byte ${offset}: no ustar magic (pre-POSIX v7 archives are ` +
          "not supported; create the tarball with GNU tar or any POSIX tar)",
      );
    }
    const typeflag = block[at + 156];
    switch (typeflag) {
      case 0x78: // 'x': PAX header for the next member
      case 0x67: // 'g': PAX header for all following members
      case 0x4c: // 'L': GNU long name of the next member
      case 0x4b: // 'K': GNU long link target of the next member
      case 0x56: { // 'V': volume label, not a member
        const where = { offset, path: headerName(block, at, posix) };
        const size = readNumber(block, at, SIZE, where);
        if (typeflag === 0x56) {
          // GNU tar reads a label as a member it does not extract: the extended headers
          // before it are its own, not the next member's.
          this.#local = {};
          this.#longName = this.#longLink = undefined;
          this.#extendedInARow = 0;
          this.#startData(Target.Skip, size, offset);
        } else {
          this.#startExtended(typeflag, size, offset);
        }
        return;
      }
    }
    let type = TYPES[typeflag];
    if (type === undefined) {
      const what = UNSUPPORTED[typeflag] ?? `type ${JSON.stringify(String.fromCharCode(typeflag))}`;
      throw invalidArgument(`unsupported tar archive at byte ${offset}: members of ${what}`);
    }
    const local = this.#local;
    const global = this.#global;
    const longName = this.#longName;
    const longLink = this.#longLink;
    this.#local = {};
    this.#longName = this.#longLink = undefined;
    this.#extendedInARow = 0;
    const path = override(local.path, global.path) ?? longName ?? headerName(block, at, posix);
    // Old tars marked a directory by a '/' after a regular file's name; GNU tar still does.
    if (type === "file" && path[path.length - 1] === 0x2f) type = "directory";
    const isLink = type === "symlink" || type === "hardlink";
    const linkPath = isLink
      ? override(local.linkPath, global.linkPath) ?? longLink ?? field(block, at + 157, 100)
      : new Uint8Array(0);
    if (path.length > this.#maxPath || linkPath.length > this.#maxPath) {
      throw exhausted(
        `tar member at byte ${offset} has a path or link target longer than the limit of ` +
          `${this.#maxPath} bytes`,
      );
    }
    // Every number is checked before the member reaches the sink: the header's own fields
    // even where a PAX record replaces them (GNU tar checks them too; writers put 0 there
    // when a value does not fit), and a global record even where the member's own one
    // replaces it (GNU tar checks every record it reads).
    const where: Where = { offset, path };
    const number = (field: NumericField, key: "size" | "uid" | "gid") => {
      const own = readNumber(block, at, field, where);
      const globalText = global[key];
      if (globalText) readPaxNumber(globalText, field, where);
      const pax = override(local[key], globalText);
      return pax === undefined ? own : readPaxNumber(pax, field, where);
    };
    const declared = number(SIZE, "size");
    // POSIX stores no data after links, directories, devices and FIFOs, and GNU tar and
    // libarchive read none whatever the size field says: skipping it here would hide the
    // members they see. Only a GNU dumpdir ('D') is followed by data (its listing).
    const size = type === "file" || typeflag === 0x44 ? declared : 0;
    const ownMtime = readNumber(block, at, MTIME, where);
    if (global.mtime) readPaxTime(global.mtime, where);
    const paxTime = override(local.mtime, global.mtime);
    const mtime = paxTime === undefined ? { sec: ownMtime, nsec: 0 } : readPaxTime(paxTime, where);
    const isDevice = type === "character-device" || type === "block-device";
    const entry: TarEntry = {
      type,
      path,
      linkPath,
      mode: readNumber(block, at, MODE, where) & 0o7777,
      uid: number(UID, "uid"),
      gid: number(GID, "gid"),
      size,
      mtimeSec: mtime.sec,
      mtimeNsec: mtime.nsec,
      // Only devices use them; like GNU tar, other members' device fields are not read.
      devMajor: isDevice ? readNumber(block, at, DEVMAJOR, where) : 0,
      devMinor: isDevice ? readNumber(block, at, DEVMINOR, where) : 0,
      offset,
    };
    this.#entries++;
    this.#sink.entry(entry);
    if (type === "file") {
      this.#startData(Target.Sink, size, offset);
    } else {
      this.#sink.entryEnd();
      this.#startData(Target.Skip, size, offset);
    }
  }

  #startExtended(typeflag: number, size: number, offset: number): void {
    if (++this.#extendedInARow > MAX_EXTENDED_IN_A_ROW) {
      throw corrupt(offset, `more than ${MAX_EXTENDED_IN_A_ROW} extended headers in a row`);
    }
    if (size > this.#maxExtended) {
      throw exhausted(
        `tar extended header at byte ${offset} is ${size} bytes; the limit is ${this.#maxExtended}`,
      );
    }
    // A GNU long name or link is the string in its whole data blocks, up to its NUL: GNU tar
    // copies the padding too, and reads past a size field that says less.
    const long = typeflag === 0x4c || typeflag === 0x4b;
    const length = long ? Math.ceil(size / BLOCK) * BLOCK : size;
    this.#extendedType = typeflag;
    this.#extended = new Uint8Array(length);
    this.#extendedFill = 0;
    this.#startData(Target.Extended, length, offset);
  }

  #startData(target: Target, size: number, offset: number): void {
    // The readers checked it; this keeps a future reader that does not from making the
    // data and padding counts negative.
    if (!Number.isSafeInteger(size) || size < 0) {
      throw broken(`member at byte ${offset} has data size ${size}`);
    }
    this.#content += size;
    if (this.#content > this.#maxContent) {
      throw exhausted(
        `tar archive content exceeds the extracted-size limit of ${this.#maxContent} bytes ` +
          `(member at byte ${offset} declares ${size} bytes)`,
      );
    }
    this.#target = target;
    this.#remaining = size;
    this.#padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0) this.#endData();
    else this.#state = State.Data;
  }

  #onData(bytes: Uint8Array): void {
    if (this.#target === Target.Sink) this.#sink.data(bytes);
    else if (this.#target === Target.Extended) {
      this.#extended.set(bytes, this.#extendedFill);
      this.#extendedFill += bytes.length;
    }
  }

  #endData(): void {
    this.#state = this.#padding > 0 ? State.Padding : State.Header;
    if (this.#target === Target.Sink) this.#sink.entryEnd();
    else if (this.#target === Target.Extended) this.#applyExtended();
    this.#target = Target.Skip;
  }

  #applyExtended(): void {
    const data = this.#extended;
    this.#extended = new Uint8Array(0);
    switch (this.#extendedType) {
      case 0x78:
        this.#local = {};
        parsePax(data, this.#local, this.#entryOffset, false);
        break;
      case 0x67:
        this.#global = {};
        parsePax(data, this.#global, this.#entryOffset, true);
        break;
      case 0x4c:
        this.#longName = field(data, 0, data.length);
        break;
      case 0x4b:
        this.#longLink = field(data, 0, data.length);
        break;
    }
  }
}
