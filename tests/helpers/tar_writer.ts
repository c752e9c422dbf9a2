/**
 * Hand-made tar archives for tests: exactly the bytes a hostile or unusual archive would
 * hold (paths with "..", absolute links, lying sizes, broken checksums), which GNU tar will
 * not produce on purpose. Written from the ustar/PAX layout, not from a library.
 * @module
 */

const encoder = new TextEncoder();

/** One header (and its data) in a hand-made archive. */
export interface TarMember {
  /** Member path; strings are UTF-8 encoded. Longer than 100 bytes: use `pax` or a 'L'. */
  name: string | Uint8Array;
  /** Type flag: "0" file (default), "1" hardlink, "2" symlink, "3" char, "4" block,
   * "5" directory, "6" FIFO, "x" PAX, "g" global PAX, "L" GNU long name, "K" long link... */
  type?: string;
  /** Data bytes written after the header. */
  data?: string | Uint8Array;
  /** Size written in the header, when it should differ from the data's length (numbers
   * that do not fit the octal field are written in GNU base-256, as are negatives). */
  size?: number | bigint;
  /** Link target (up to 100 bytes). */
  link?: string;
  /** Permission bits (default 0o644, or 0o755 for directories). */
  mode?: number | bigint;
  uid?: number | bigint;
  gid?: number | bigint;
  /** Seconds since the epoch (default 1_600_000_000). */
  mtime?: number | bigint;
  devMajor?: number | bigint;
  devMinor?: number | bigint;
  /** "gnu" writes the GNU magic ("ustar  \0"), "none" no magic (v7); default POSIX. */
  magic?: "posix" | "gnu" | "none";
  /** Adds this to the correct checksum (0 = correct). */
  checksumDelta?: number;
}

function bytesOf(value: string | Uint8Array): Uint8Array {
  return typeof value === "string" ? encoder.encode(value) : value;
}

function putString(block: Uint8Array, at: number, length: number, value: Uint8Array): void {
  if (value.length > length) throw new Error(`tar field of ${length} bytes: value too long`);
  block.set(value, at);
}

/**
 * Writes a numeric header field as tar does: octal digits and a NUL when they fit, else GNU
 * base-256 (high bit set, big-endian two's complement), which is also how negatives go.
 * Values beyond the field's base-256 range wrap, which hostile tests want.
 */
export function putNumeric(
  block: Uint8Array,
  at: number,
  length: number,
  value: number | bigint,
): void {
  const big = BigInt(value);
  if (big >= 8n ** BigInt(length - 1) || big < 0n) {
    // GNU base-256: high bit set, big-endian two's complement in the remaining bits.
    let rest = big < 0n ? (1n << BigInt(length * 8)) + big : big;
    for (let i = length - 1; i >= 0; i--) {
      block[at + i] = Number(rest & 0xffn);
      rest >>= 8n;
    }
    block[at] |= 0x80;
    return;
  }
  putString(block, at, length, encoder.encode(big.toString(8).padStart(length - 1, "0")));
}

/** Overwrites a header field with exactly these bytes, NUL-padded to its length (e.g.
 * "10000000", eight octal digits without the NUL tar would write). */
export function putField(
  block: Uint8Array,
  at: number,
  length: number,
  value: string | Uint8Array,
): void {
  block.fill(0, at, at + length);
  putString(block, at, length, bytesOf(value));
}

/** Recomputes the checksum of the header block at `at` after an edit, as tar writes it. */
export function fixChecksum(bytes: Uint8Array, at = 0): void {
  bytes.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += bytes[i];
  bytes.set(encoder.encode(`${sum.toString(8).padStart(6, "0")}\u0000 `), at + 148);
}

/** The 512-byte header of a member. */
export function tarHeader(member: TarMember): Uint8Array {
  const block = new Uint8Array(512);
  const type = member.type ?? "0";
  const data = member.data === undefined ? new Uint8Array(0) : bytesOf(member.data);
  putString(block, 0, 100, bytesOf(member.name));
  putNumeric(block, 100, 8, member.mode ?? (type === "5" ? 0o755 : 0o644));
  putNumeric(block, 108, 8, member.uid ?? 0);
  putNumeric(block, 116, 8, member.gid ?? 0);
  putNumeric(block, 124, 12, member.size ?? data.length);
  putNumeric(block, 136, 12, member.mtime ?? 1_600_000_000);
  block[156] = type.charCodeAt(0);
  putString(block, 157, 100, encoder.encode(member.link ?? ""));
  const magic = member.magic ?? "posix";
  if (magic === "posix") putString(block, 257, 8, encoder.encode("ustar\u000000"));
  if (magic === "gnu") putString(block, 257, 8, encoder.encode("ustar  \u0000"));
  putNumeric(block, 329, 8, member.devMajor ?? 0);
  putNumeric(block, 337, 8, member.devMinor ?? 0);
  block.fill(0x20, 148, 156);
  let sum = block.reduce((total, byte) => total + byte, 0) + (member.checksumDelta ?? 0);
  sum = Math.max(0, sum);
  putString(block, 148, 8, encoder.encode(`${sum.toString(8).padStart(6, "0")}\u0000 `));
  return block;
}

/** A PAX extended header member ('x', or 'g' when global) carrying these records. */
export function paxMember(records: Record<string, string>, global = false): TarMember {
  let body = "";
  for (const [key, value] of Object.entries(records)) {
    const rest = ` ${key}=${value}\n`;
    const restLength = encoder.encode(rest).length;
    // The length counts its own digits.
    let length = restLength + 1;
    while (String(length).length + restLength !== length) length++;
    body += `${length}${rest}`;
  }
  return { name: global ? "pax_global_header" : "PaxHeader", type: global ? "g" : "x", data: body };
}

/** An archive of these members: headers, data padded to 512, and (unless `end` is false)
 * the two zero blocks that end it. */
export function buildTar(members: TarMember[], options: { end?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const member of members) {
    parts.push(tarHeader(member));
    if (member.data !== undefined) {
      const data = bytesOf(member.data);
      parts.push(data);
      const pad = (512 - (data.length % 512)) % 512;
      if (pad) parts.push(new Uint8Array(pad));
    }
  }
  if (options.end ?? true) parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Gzip-compresses bytes (CompressionStream, the same codec family the store reads). */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = ReadableStream.from([bytes as Uint8Array<ArrayBuffer>]).pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Yields bytes in chunks of the given size, like a client stream. */
export async function* chunksOf(
  bytes: Uint8Array,
  chunkSize = 64 * 1024,
): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += chunkSize) {
    yield bytes.slice(at, at + chunkSize);
  }
}

/** Yields a file's bytes as they are read, without holding the whole file. */
export async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  using file = await Deno.open(path);
  for await (const chunk of file.readable) yield chunk;
}
