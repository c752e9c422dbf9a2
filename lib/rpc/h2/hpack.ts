/**
 * HPACK (RFC 7541), the header compression of HTTP/2, as IJR's client needs it.
 *
 * Encoding: the client sends a handful of headers per request, so it encodes each as a literal
 * "without indexing" (or a static-table index where one matches exactly) and never touches the
 * dynamic table: the server's decoder state never depends on what the client sent before.
 *
 * Decoding: the whole format, since a server may use any of it: the static and dynamic tables,
 * table size updates, literals with or without Huffman coding. A header block that breaks the
 * format, grows past the advertised size or refers to an entry that does not exist is a
 * compression error, which ends the connection (RFC 7540 section 4.3).
 * @module
 */

import { decodeHuffman } from "./huffman.ts";

/** One header field: a lower-case name and its value. */
export type HeaderField = readonly [name: string, value: string];

/** The static table (RFC 7541 Appendix A); index 1 is the first entry. */
const STATIC_TABLE: readonly HeaderField[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/** The size HTTP/2 starts every dynamic table at (SETTINGS_HEADER_TABLE_SIZE's default). */
export const DEFAULT_TABLE_SIZE = 4096;

/** A header block that cannot be decoded: the connection must end (COMPRESSION_ERROR). */
export class CompressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CompressionError";
  }
}

/**
 * A header block that decoded but whose list is larger than this side accepts: the table is
 * in step, so only the stream it was for must end, not the connection.
 */
export class HeaderListTooLarge extends Error {
  constructor(limit: number) {
    super(`header list larger than ${limit} bytes`);
    this.name = "HeaderListTooLarge";
  }
}

const textEncoder = new TextEncoder();

/** Appends an HPACK integer with an N-bit prefix (RFC 7541 section 5.1) to `out`. */
function pushInteger(out: number[], firstByteFlags: number, prefixBits: number, value: number) {
  const limit = (1 << prefixBits) - 1;
  if (value < limit) {
    out.push(firstByteFlags | value);
    return;
  }
  out.push(firstByteFlags | limit);
  value -= limit;
  while (value >= 128) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

/** Appends a string literal, not Huffman-coded, to `out`. */
function pushString(out: number[], value: string) {
  const bytes = textEncoder.encode(value);
  pushInteger(out, 0x00, 7, bytes.length);
  for (const byte of bytes) out.push(byte);
}

/** Indices of static entries by "name\0value" and by name alone, for the encoder. */
const STATIC_BY_FIELD = new Map<string, number>();
const STATIC_BY_NAME = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], index) => {
  STATIC_BY_FIELD.set(`${name}\0${value}`, index + 1);
  if (!STATIC_BY_NAME.has(name)) STATIC_BY_NAME.set(name, index + 1);
});

/**
 * Encodes `fields` as one header block: an exact static-table match as its index, anything
 * else as a literal without indexing (with the static name's index when there is one).
 */
export function encodeHeaderBlock(fields: readonly HeaderField[]): Uint8Array {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const exact = STATIC_BY_FIELD.get(`${name}\0${value}`);
    if (exact !== undefined) {
      pushInteger(out, 0x80, 7, exact);
      continue;
    }
    const nameIndex = STATIC_BY_NAME.get(name);
    if (nameIndex !== undefined) {
      pushInteger(out, 0x00, 4, nameIndex);
    } else {
      out.push(0x00);
      pushString(out, name);
    }
    pushString(out, value);
  }
  return new Uint8Array(out);
}

/**
 * Header names and values are ASCII in gRPC; anything else is kept byte for byte, one char per
 * byte. In slices, since a spread of a long value would overflow the call stack.
 */
function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let at = 0; at < bytes.length; at += 4096) {
    text += String.fromCharCode(...bytes.subarray(at, at + 4096));
  }
  return text;
}

/** The decoding side of one connection: its dynamic table lives as long as the connection. */
export class HpackDecoder {
  /** Newest entry first, as HPACK numbers them. */
  readonly #dynamic: HeaderField[] = [];
  #size = 0;
  /** The table size the encoder may use now (set by its size updates). */
  #maxSize: number;
  /** The most the encoder may ever set: what this side advertised. */
  readonly #limit: number;
  /** The most header bytes (names, values and 32 per field) one block may decode to. */
  readonly #maxListSize: number;

  constructor(limit = DEFAULT_TABLE_SIZE, maxListSize = 64 * 1024) {
    this.#limit = limit;
    this.#maxSize = limit;
    this.#maxListSize = maxListSize;
  }

  /**
   * Decodes one complete header block. Throws CompressionError when it is malformed, and
   * HeaderListTooLarge (after decoding it all) when its fields are over the size limit.
   */
  decode(block: Uint8Array): HeaderField[] {
    const fields: HeaderField[] = [];
    let listSize = 0;
    let at = 0;
    let fieldSeen = false;
    const integer = (prefixBits: number): number => {
      if (at >= block.length) throw new CompressionError("header block ends inside an integer");
      const limit = (1 << prefixBits) - 1;
      let value = block[at++] & limit;
      if (value < limit) return value;
      // At most five more bytes (7 bits each) before the value passes 2^31: more, even of
      // zeros, is refused rather than summed (2 ** shift would reach Infinity, and NaN).
      for (let shift = 0; shift <= 28; shift += 7) {
        if (at >= block.length) throw new CompressionError("header block ends inside an integer");
        const byte = block[at++];
        value += (byte & 0x7f) * 2 ** shift;
        if (value > 0x7fffffff) throw new CompressionError("integer too large in header block");
        if ((byte & 0x80) === 0) return value;
      }
      throw new CompressionError("integer too long in header block");
    };
    const string = (): string => {
      if (at >= block.length) throw new CompressionError("header block ends before a string");
      const huffman = (block[at] & 0x80) !== 0;
      const length = integer(7);
      if (at + length > block.length) {
        throw new CompressionError("string longer than the header block");
      }
      let bytes = block.subarray(at, at + length);
      at += length;
      if (huffman) {
        try {
          bytes = decodeHuffman(bytes);
        } catch (error) {
          throw new CompressionError((error as Error).message);
        }
      }
      return latin1(bytes);
    };
    const entry = (index: number): HeaderField => {
      if (index === 0) throw new CompressionError("header field index 0");
      if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1];
      const field = this.#dynamic[index - STATIC_TABLE.length - 1];
      if (field === undefined) throw new CompressionError(`header field index ${index} unknown`);
      return field;
    };
    const emit = (field: HeaderField) => {
      fieldSeen = true;
      listSize += field[0].length + field[1].length + 32;
      // Past the limit the block is still decoded to its end (the table must follow it), but
      // its fields are not kept.
      if (listSize <= this.#maxListSize) fields.push(field);
    };
    while (at < block.length) {
      const first = block[at];
      if (first & 0x80) {
        emit(entry(integer(7)));
      } else if (first & 0x40) {
        const nameIndex = integer(6);
        const name = nameIndex === 0 ? string() : entry(nameIndex)[0];
        const field: HeaderField = [name, string()];
        this.#insert(field);
        emit(field);
      } else if (first & 0x20) {
        // A size update must come before the block's first field (RFC 7541 section 4.2).
        if (fieldSeen) throw new CompressionError("table size update after a header field");
        const size = integer(5);
        if (size > this.#limit) {
          throw new CompressionError(`table size update to ${size}, above ${this.#limit}`);
        }
        this.#maxSize = size;
        this.#evictTo(size);
      } else {
        // Without indexing (0000) or never indexed (0001): the same to a decoder.
        const nameIndex = integer(4);
        const name = nameIndex === 0 ? string() : entry(nameIndex)[0];
        emit([name, string()]);
      }
    }
    if (listSize > this.#maxListSize) throw new HeaderListTooLarge(this.#maxListSize);
    return fields;
  }

  #insert(field: HeaderField): void {
    const size = field[0].length + field[1].length + 32;
    this.#evictTo(this.#maxSize - size);
    // An entry larger than the whole table empties it and is not added (RFC 7541 4.4).
    if (size > this.#maxSize) return;
    this.#dynamic.unshift(field);
    this.#size += size;
  }

  #evictTo(size: number): void {
    while (this.#size > Math.max(size, 0) && this.#dynamic.length > 0) {
      const [name, value] = this.#dynamic.pop()!;
      this.#size -= name.length + value.length + 32;
    }
  }
}
