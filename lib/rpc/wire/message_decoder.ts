/**
 * Decoders for protobuf's binary format, generated once per message type from its
 * descriptor: what every message a client receives goes through.
 *
 * Why: protobuf-es's `fromBinary` reads every field through closures shared by all message
 * types, so each `message[name] = value` is a megamorphic keyed store. In a V8 profile of
 * decoding a ListJobs answer of 100 jobs (bench/README.md, issue 16), those stores and
 * their trampolines were a third of the time, the zero-message factory a tenth, the field
 * lookup by number another twentieth; the decode took as long as a whole echo call. A
 * generated decoder has one function per message type, whose stores name their property
 * and whose fields are the cases of one switch, as generated code (ts-proto, protoc's)
 * has.
 *
 * The source of each decoder is built here from the descriptors compiled into IJR (lib/gen),
 * never from anything received: property names and type names enter it as JSON string
 * literals, tags as numbers.
 *
 * What it decodes is always what `fromBinary` gives, or `fromBinary` decodes it itself:
 * - a message type with a field of a kind generated code here does not read (a map, a
 *   oneof, a group, a closed enum, a wrapper or Struct field, proto2 defaults) is never
 *   generated, and `fromBinary` decodes it;
 * - bytes with a field the decoder does not know (a newer peer's, kept by `fromBinary` as
 *   unknown fields), a wire type other than the field's, or anything malformed are decoded
 *   again, as a whole, by `fromBinary`, which keeps what it keeps and throws its own errors.
 * tests/unit/message_decoder_test.ts holds the two to the same results, byte for byte and
 * for malformed input.
 * @module
 */

import {
  create,
  type DescField,
  type DescMessage,
  fromBinary,
  type MessageShape,
  ScalarType,
} from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";

/** Thrown inside a generated decoder when `fromBinary` must decode the bytes instead. */
const FALL_BACK = Symbol("fall back to fromBinary");

/** The bytes being decoded and the position in them, shared by the helpers below. */
const cursor: { buf: Uint8Array; pos: number } = { buf: new Uint8Array(0), pos: 0 };

/** Decodes the message from the cursor to `end`, into `into` when given (a merge). */
type Decoder = (end: number, depth: number, into?: unknown) => unknown;

/** Generated decoders, or null for a type `fromBinary` must always decode. */
const decoders = new WeakMap<DescMessage, Decoder | null>();

/** The recursion limit fromBinary applies. */
const MAX_DEPTH = 100;

/**
 * Decodes `bytes` as a message of `schema`: the same message `fromBinary(schema, bytes)`
 * gives, generated code doing it for the types it can read.
 */
export function decodeMessage<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
): MessageShape<Desc> {
  const decode = decoderOf(schema);
  if (decode === null) return fromBinary(schema, bytes);
  cursor.buf = bytes;
  cursor.pos = 0;
  try {
    return decode(bytes.length, 0) as MessageShape<Desc>;
  } catch (error) {
    if (error !== FALL_BACK) throw error;
    return fromBinary(schema, bytes);
  } finally {
    cursor.buf = EMPTY; // holds no answer longer than its decode
  }
}

const EMPTY = new Uint8Array(0);

/** The decoder of `schema`, generated on first use; null when it cannot be generated. */
function decoderOf(schema: DescMessage): Decoder | null {
  const known = decoders.get(schema);
  if (known !== undefined) return known;
  // Children first, each once; a type that contains itself is looked up when it is read.
  decoders.set(schema, null);
  const decoder = generate(schema);
  decoders.set(schema, decoder);
  return decoder;
}

/**
 * The generated decoder of `schema`, or null when generated code cannot read one of its
 * fields; the decoders of its children are generated on the way.
 */
function generate(schema: DescMessage): Decoder | null {
  const zero = create(schema) as Record<string, unknown>;
  if (schema.oneofs.length > 0 || Object.getPrototypeOf(zero) !== Object.prototype) return null;
  const literal = zeroLiteral(zero);
  if (literal === undefined) return null;
  const children: DescMessage[] = [];
  const cases: string[] = [];
  for (const field of schema.fields) {
    const fieldCases = casesOf(field, children);
    if (fieldCases === null) return null;
    cases.push(...fieldCases);
  }
  for (const child of children) {
    if (child !== schema && decoderOf(child) === null) return null;
  }
  const source = `
    return function decode(end, depth, into) {
      if (depth > ${MAX_DEPTH} || end > cursor.buf.length) throw FALL_BACK;
      const m = into ?? ${literal};
      while (cursor.pos < end) {
        switch (varint32()) {
          ${cases.join("\n          ")}
          default: throw FALL_BACK;
        }
      }
      if (cursor.pos !== end) throw FALL_BACK;
      return m;
    };`;
  // The children's decoders are looked up when first used (a type may contain itself, and
  // its own decoder is not made yet), then kept.
  const found: (Decoder | undefined)[] = [];
  const child = (index: number) => {
    const decoder = found[index] ?? decoders.get(children[index]);
    if (!decoder) throw FALL_BACK;
    found[index] = decoder;
    return decoder;
  };
  return new Function(
    "cursor",
    "FALL_BACK",
    "varint32",
    "readers",
    "child",
    "messageEnd",
    source,
  )(cursor, FALL_BACK, varint32, readers, child, messageEnd) as Decoder;
}

/** The zero message as an object literal, property for property; undefined if it cannot be. */
function zeroLiteral(zero: Record<string, unknown>): string | undefined {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(zero)) {
    let text: string;
    if (typeof value === "string") text = JSON.stringify(value);
    else if (typeof value === "number" || typeof value === "boolean") text = String(value);
    else if (typeof value === "bigint") text = `${value}n`;
    else if (Array.isArray(value) && value.length === 0) text = "[]";
    else if (value instanceof Uint8Array && value.length === 0) text = "new Uint8Array(0)";
    else return undefined;
    parts.push(`${JSON.stringify(key)}: ${text}`);
  }
  return `{ ${parts.join(", ")} }`;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** The switch cases that read `field`, or null when generated code does not read it. */
function casesOf(field: DescField, children: DescMessage[]): string[] | null {
  const property = `m[${JSON.stringify(field.localName)}]`;
  const tag = (wire: number) => `case ${(field.number << 3) | wire}:`;
  switch (field.fieldKind) {
    case "scalar":
      if (field.longAsString) return null; // 64-bit integers as strings (jstype)
      return [
        `${tag(wireTypeOf(field.scalar))} ${property} = ${
          readerCall(field.scalar, field.utf8Validation)
        }; break;`,
      ];
    case "enum":
      if (!field.enum.open) return null;
      return [`${tag(WIRE_VARINT)} ${property} = varint32() | 0; break;`];
    case "message": {
      if (!messageReadable(field.message, field.delimitedEncoding)) return null;
      const index = children.push(field.message) - 1;
      // A message field seen twice merges into the first, as fromBinary does.
      return [
        `${
          tag(WIRE_LENGTH_DELIMITED)
        } ${property} = child(${index})(messageEnd(), depth + 1, ${property}); break;`,
      ];
    }
    case "list": {
      if (field.listKind === "message") {
        if (!messageReadable(field.message, field.delimitedEncoding)) return null;
        const index = children.push(field.message) - 1;
        return [
          `${
            tag(WIRE_LENGTH_DELIMITED)
          } ${property}.push(child(${index})(messageEnd(), depth + 1)); break;`,
        ];
      }
      if (field.listKind === "enum" && !field.enum.open) return null;
      if (field.listKind === "scalar" && field.longAsString) return null;
      const scalar = field.listKind === "enum" ? ScalarType.INT32 : field.scalar;
      const read = field.listKind === "enum"
        ? "(varint32() | 0)"
        : readerCall(scalar, field.utf8Validation);
      const wire = wireTypeOf(scalar);
      const cases = [`${tag(wire)} ${property}.push(${read}); break;`];
      if (wire !== WIRE_LENGTH_DELIMITED) {
        // Packed: one length-delimited run of values.
        cases.push(
          `${tag(WIRE_LENGTH_DELIMITED)} { const e = messageEnd(); ` +
            `while (cursor.pos < e) ${property}.push(${read}); ` +
            `if (cursor.pos !== e) throw FALL_BACK; break; }`,
        );
      }
      return cases;
    }
    case "map":
      return null;
  }
}

/** Whether a message-typed field is read as a plain length-delimited message. */
function messageReadable(schema: DescMessage, delimited: boolean): boolean {
  if (delimited || isWrapperDesc(schema)) return false;
  // Struct, Value and ListValue are JSON values in protobuf-es, not messages.
  return !(schema.typeName === "google.protobuf.Struct" ||
    schema.typeName === "google.protobuf.Value" ||
    schema.typeName === "google.protobuf.ListValue");
}

/** Reads a length prefix; returns where the value ends (within the bytes, else falls back). */
function messageEnd(): number {
  const end = varint32() + cursor.pos;
  if (end > cursor.buf.length) throw FALL_BACK;
  return end;
}

function wireTypeOf(scalar: ScalarType): number {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WIRE_LENGTH_DELIMITED;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WIRE_FIXED64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WIRE_FIXED32;
    default:
      return WIRE_VARINT;
  }
}

/** The expression that reads one value of `scalar` at the cursor. */
function readerCall(scalar: ScalarType, utf8Validation: boolean): string {
  if (scalar === ScalarType.STRING) {
    return utf8Validation ? "readers.strictString()" : "readers.looseString()";
  }
  return `readers[${scalar}]()`;
}

const view = new DataView(new ArrayBuffer(8));
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const looseUtf8 = new TextDecoder("utf-8");

/** Readers of one value at the cursor, by ScalarType (and the two kinds of string). */
const readers: Record<number | string, () => unknown> = {
  strictString: () => readString(true),
  looseString: () => readString(false),
  [ScalarType.BYTES]: () => {
    const end = messageEnd();
    const start = cursor.pos;
    cursor.pos = end;
    return cursor.buf.subarray(start, end);
  },
  [ScalarType.BOOL]: () => {
    varint64();
    return view.getUint32(0, true) !== 0 || view.getUint32(4, true) !== 0;
  },
  [ScalarType.INT32]: () => varint32() | 0,
  [ScalarType.UINT32]: () => varint32(),
  [ScalarType.SINT32]: () => {
    const zigzag = varint32();
    return (zigzag >>> 1) ^ -(zigzag & 1);
  },
  [ScalarType.INT64]: () => {
    varint64();
    return smallBigInt() ?? view.getBigInt64(0, true);
  },
  [ScalarType.UINT64]: () => {
    varint64();
    return smallBigInt() ?? view.getBigUint64(0, true);
  },
  [ScalarType.SINT64]: () => {
    varint64();
    const zigzag = view.getBigUint64(0, true);
    return BigInt.asIntN(64, (zigzag >> 1n) ^ -(zigzag & 1n));
  },
  [ScalarType.FIXED32]: () => fixed(4).getUint32(0, true),
  [ScalarType.SFIXED32]: () => fixed(4).getInt32(0, true),
  [ScalarType.FLOAT]: () => fixed(4).getFloat32(0, true),
  [ScalarType.FIXED64]: () => fixed(8).getBigUint64(0, true),
  [ScalarType.SFIXED64]: () => fixed(8).getBigInt64(0, true),
  [ScalarType.DOUBLE]: () => fixed(8).getFloat64(0, true),
};

/**
 * The 64 bits in the shared view as a bigint when they are a value below 2^32 (sizes, counts,
 * seconds since 1970: nearly all there are), else undefined (then DataView's getBig(U)int64
 * reads them, a negative int64 among them). BigInt of a uint32 is several times faster than
 * those: a 100-job ListJobs answer decoded in 77 µs instead of 98.
 */
function smallBigInt(): bigint | undefined {
  return view.getUint32(4, true) === 0 ? BigInt(view.getUint32(0, true)) : undefined;
}

/** Copies `size` little-endian bytes at the cursor into the shared view. */
function fixed(size: number): DataView {
  const { buf, pos } = cursor;
  if (pos + size > buf.length) throw FALL_BACK;
  for (let i = 0; i < size; i++) view.setUint8(i, buf[pos + i]);
  cursor.pos = pos + size;
  return view;
}

/**
 * Reads a varint as an unsigned 32-bit number: a tag, a length, an int32 (whose negative
 * values take 10 bytes, the upper five carrying only sign bits), a uint32 or an enum.
 */
function varint32(): number {
  const buf = cursor.buf;
  let pos = cursor.pos;
  let byte = buf[pos++];
  let value = byte & 0x7f;
  if (byte >= 0x80) {
    byte = buf[pos++];
    value |= (byte & 0x7f) << 7;
    if (byte >= 0x80) {
      byte = buf[pos++];
      value |= (byte & 0x7f) << 14;
      if (byte >= 0x80) {
        byte = buf[pos++];
        value |= (byte & 0x7f) << 21;
        if (byte >= 0x80) {
          byte = buf[pos++];
          value |= byte << 28;
          for (let extra = 0; byte >= 0x80 && extra < 5; extra++) byte = buf[pos++];
          if (byte >= 0x80) throw FALL_BACK;
        }
      }
    }
  }
  // Past the end, a byte read is undefined: that, too, ends up here.
  if (pos > buf.length || byte === undefined) throw FALL_BACK;
  cursor.pos = pos;
  return value >>> 0;
}

/** Reads a varint of up to 10 bytes into the shared view's 8 bytes, little-endian. */
function varint64(): void {
  const buf = cursor.buf;
  let pos = cursor.pos;
  let low = 0;
  let high = 0;
  let byte: number;
  let shift = 0;
  do {
    if (pos >= buf.length || shift > 63) throw FALL_BACK;
    byte = buf[pos++];
    const bits = byte & 0x7f;
    if (shift < 28) {
      low |= bits << shift;
    } else if (shift === 28) {
      low |= bits << 28;
      high |= bits >>> 4;
    } else {
      high |= bits << (shift - 32);
    }
    shift += 7;
  } while (byte >= 0x80);
  cursor.pos = pos;
  view.setUint32(0, low >>> 0, true);
  view.setUint32(4, high >>> 0, true);
}

/**
 * `String.fromCharCode` of the `n` bytes at `start`, for each `n` up to 32, with the bytes as
 * its arguments: no subarray and no `apply` of one, which made half of a short string's
 * decode (IDs, owners, paths; bench/README.md). Generated from the lengths alone.
 */
const asciiOfLength: readonly ((buf: Uint8Array, start: number) => string)[] = Array.from(
  { length: 33 },
  (_, n) =>
    new Function(
      "buf",
      "start",
      `return String.fromCharCode(${
        Array.from({ length: n }, (_, i) => `buf[start + ${i}]`).join(", ")
      });`,
    ) as (buf: Uint8Array, start: number) => string,
);

/** Reads a length-delimited string: ASCII by a fast path, anything else by a TextDecoder. */
function readString(strict: boolean): string {
  const end = messageEnd();
  const buf = cursor.buf;
  const start = cursor.pos;
  cursor.pos = end;
  if (end - start <= 64) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      const length = end - start;
      if (length < asciiOfLength.length) return asciiOfLength[length](buf, start);
      return String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[]);
    }
  }
  const bytes = buf.subarray(start, end);
  if (!strict) return looseUtf8.decode(bytes);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw FALL_BACK; // fromBinary names the invalid UTF-8 itself
  }
}
