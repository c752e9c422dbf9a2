/**
 * A streaming tar parser: bytes go in as they arrive (`push`), entries and their data come
 * out through a synchronous sink, and nothing but one header block and the current
 * extended header is ever buffered. Reads POSIX ustar, GNU tar (long names and links 'L'/'K',
 * base-256 numbers) and PAX ('x' and 'g' headers: path, linkpath, size, mtime, uid, gid).
 *
 * It is strict where a lax parser would hide damage: every header's checksum is verified,
 * the archive must end with its end-of-archive block, and an archive that stops inside a
 * header or a file is reported as truncated. Paths are kept as raw bytes (file names in a
 * rootfs need not be UTF-8); they are not interpreted here.
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
  /** Data bytes that follow: delivered to the sink for files, skipped for other types. */
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

/** Fields an extended header can override: undefined = not set, null = removed (an empty
 * PAX value), so the header block's own field applies even over a global setting. */
interface Overrides {
  path?: Uint8Array | null;
  linkPath?: Uint8Array | null;
  size?: number | null;
  mtimeSec?: number | null;
  mtimeNsec?: number | null;
  uid?: number | null;
  gid?: number | null;
}

/** The value in force: the member's own extended header, else the global one, else the
 * header block's field (computed only when needed). */
function pick<T>(local: T | null | undefined, global: T | null | undefined, header: () => T): T {
  if (local !== undefined) return local === null ? header() : local;
  return global ?? header();
}

const lossy = new TextDecoder();

/** A path's bytes as text for messages (invalid UTF-8 shown as U+FFFD). */
export function describePath(path: Uint8Array): string {
  return JSON.stringify(lossy.decode(path));
}

function corrupt(offset: number, message: string): IjrError {
  return invalidArgument(`corrupt tar archive at byte ${offset}: ${message}`);
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

/**
 * A numeric header field: octal digits (optionally space-padded, ended by NUL or space), or
 * GNU base-256 when the first byte has its high bit set (big numbers, negative mtimes).
 */
function numeric(block: Uint8Array, at: number, length: number, offset: number, name: string) {
  const first = block[at];
  if (first & 0x80) {
    let value = BigInt(first & 0x7f);
    for (let i = 1; i < length; i++) value = (value << 8n) | BigInt(block[at + i]);
    // The remaining bits are a two's complement number: 0xff... is negative.
    if (first & 0x40) value -= 1n << BigInt(length * 8 - 1);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw corrupt(offset, `the ${name} field is out of range`);
    }
    return Number(value);
  }
  let i = at;
  const end = at + length;
  while (i < end && block[i] === 0x20) i++;
  let value = 0;
  for (; i < end; i++) {
    const c = block[i];
    if (c >= 0x30 && c <= 0x37) value = value * 8 + (c - 0x30);
    else if (c === 0 || c === 0x20) break;
    else throw corrupt(offset, `the ${name} field is not an octal number`);
  }
  return value;
}

function isZeroBlock(block: Uint8Array, at: number): boolean {
  for (let i = at; i < at + BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Verifies the header checksum: the byte sum with the checksum field read as spaces. Old
 * tars summed signed bytes; both sums are accepted, as GNU tar does. */
function checksumMatches(block: Uint8Array, at: number, offset: number): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = at; i < at + BLOCK; i++) {
    const byte = i >= at + 148 && i < at + 156 ? 0x20 : block[i];
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  let stored: number;
  try {
    stored = numeric(block, at + 148, 8, offset, "checksum");
  } catch {
    return false; // not even a number: not a header
  }
  return stored === unsigned || stored === signed;
}

function ascii(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

function decimal(text: string, offset: number, key: string): number {
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw corrupt(offset, `PAX ${key} value ${JSON.stringify(text)} is not a valid number`);
  }
  return Number(text);
}

/** A PAX time ("1700000000.5", "-1.25") as whole seconds plus nanoseconds. */
function paxTime(text: string, offset: number): { sec: number; nsec: number } {
  const match = /^(-?)(\d{1,15})(?:\.(\d*))?$/.exec(text);
  if (!match) throw corrupt(offset, `PAX mtime ${JSON.stringify(text)} is not a valid time`);
  const whole = Number(match[2]);
  const nsec = Number((match[3] ?? "").slice(0, 9).padEnd(9, "0"));
  if (match[1] !== "-") return { sec: whole, nsec };
  return nsec === 0 ? { sec: -whole, nsec: 0 } : { sec: -whole - 1, nsec: 1_000_000_000 - nsec };
}

/** Applies the records of a PAX extended header ("<length> <key>=<value>\n"...). */
function parsePax(data: Uint8Array, into: Overrides, offset: number, global: boolean): void {
  let at = 0;
  while (at < data.length) {
    let space = at;
    while (space < data.length && data[space] !== 0x20) space++;
    const lengthText = ascii(data.subarray(at, space));
    if (!/^\d{1,9}$/.test(lengthText)) {
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
    const key = ascii(record.subarray(0, equals));
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
      case "size":
        into.size = present ? decimal(ascii(value), offset, key) : removed;
        break;
      case "uid":
        into.uid = present ? decimal(ascii(value), offset, key) : removed;
        break;
      case "gid":
        into.gid = present ? decimal(ascii(value), offset, key) : removed;
        break;
      case "mtime": {
        const time = present ? paxTime(ascii(value), offset) : undefined;
        into.mtimeSec = time ? time.sec : removed;
        into.mtimeNsec = time ? time.nsec : removed;
        break;
      }
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
  #local: Overrides = {};
  readonly #global: Overrides = {};
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
    if (!checksumMatches(block, at, offset)) {
      if (offset === 0) {
        throw invalidArgument(
          "not a tar archive: the first header's checksum is wrong (upload a gzipped tarball)",
        );
      }
      throw corrupt(offset, "header checksum mismatch");
    }
    const posix = block[at + 257] === 0x75 &&
      ascii(block.subarray(at + 257, at + 263)) === "ustar\0";
    const gnu = !posix && ascii(block.subarray(at + 257, at + 265)) === "ustar  \0";
    if (!posix && !gnu) {
      throw invalidArgument(
        `unsupported tar archive at byte ${offset}: no ustar magic (pre-POSIX v7 archives are ` +
          "not supported; create the tarball with GNU tar or any POSIX tar)",
      );
    }
    const typeflag = block[at + 156];
    const size = numeric(block, at + 124, 12, offset, "size");
    switch (typeflag) {
      case 0x78: // 'x': PAX header for the next member
      case 0x67: // 'g': PAX header for all following members
      case 0x4c: // 'L': GNU long name of the next member
      case 0x4b: // 'K': GNU long link target of the next member
        this.#startExtended(typeflag, size, offset);
        return;
      case 0x56: // 'V': volume label, not a member
        this.#startData(Target.Skip, size, offset);
        return;
    }
    const type = TYPES[typeflag];
    if (type === undefined) {
      const what = UNSUPPORTED[typeflag] ?? `type ${JSON.stringify(String.fromCharCode(typeflag))}`;
      throw invalidArgument(`unsupported tar archive at byte ${offset}: members of ${what}`);
    }
    const local = this.#local;
    const global = this.#global;
    this.#local = {};
    this.#extendedInARow = 0;
    const path = pick(local.path, global.path, () => {
      const name = field(block, at, 100);
      const prefix = posix ? field(block, at + 345, 155) : undefined;
      if (!prefix || prefix.length === 0) return name;
      const joined = new Uint8Array(prefix.length + 1 + name.length);
      joined.set(prefix);
      joined[prefix.length] = 0x2f;
      joined.set(name, prefix.length + 1);
      return joined;
    });
    const isLink = type === "symlink" || type === "hardlink";
    const linkPath = isLink
      ? pick(local.linkPath, global.linkPath, () => field(block, at + 157, 100))
      : new Uint8Array(0);
    if (path.length > this.#maxPath || linkPath.length > this.#maxPath) {
      throw exhausted(
        `tar member at byte ${offset} has a path or link target longer than the limit of ` +
          `${this.#maxPath} bytes`,
      );
    }
    const entrySize = pick(local.size, global.size, () => size);
    const isDevice = type === "character-device" || type === "block-device";
    const entry: TarEntry = {
      type,
      path,
      linkPath,
      mode: numeric(block, at + 100, 8, offset, "mode") & 0o7777,
      uid: pick(local.uid, global.uid, () => numeric(block, at + 108, 8, offset, "uid")),
      gid: pick(local.gid, global.gid, () => numeric(block, at + 116, 8, offset, "gid")),
      size: entrySize,
      mtimeSec: pick(
        local.mtimeSec,
        global.mtimeSec,
        () => numeric(block, at + 136, 12, offset, "mtime"),
      ),
      mtimeNsec: pick(local.mtimeNsec, global.mtimeNsec, () => 0),
      devMajor: isDevice ? numeric(block, at + 329, 8, offset, "devmajor") : 0,
      devMinor: isDevice ? numeric(block, at + 337, 8, offset, "devminor") : 0,
      offset,
    };
    this.#entries++;
    this.#sink.entry(entry);
    if (type === "file") {
      this.#startData(Target.Sink, entrySize, offset);
    } else {
      this.#sink.entryEnd();
      this.#startData(Target.Skip, entrySize, offset);
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
    this.#extendedType = typeflag;
    this.#extended = new Uint8Array(size);
    this.#extendedFill = 0;
    this.#startData(Target.Extended, size, offset);
  }

  #startData(target: Target, size: number, offset: number): void {
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
        parsePax(data, this.#local, this.#entryOffset, false);
        break;
      case 0x67:
        parsePax(data, this.#global, this.#entryOffset, true);
        break;
      case 0x4c:
        this.#local.path = field(data, 0, data.length);
        break;
      case 0x4b:
        this.#local.linkPath = field(data, 0, data.length);
        break;
    }
  }
}
