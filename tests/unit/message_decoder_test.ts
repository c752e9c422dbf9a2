/**
 * The generated decoders (lib/rpc/wire/message_decoder.ts) against protobuf-es's
 * fromBinary, which they stand in for: for every message type of IJR's API, random
 * messages, the same bytes with unknown fields, fields of the wrong wire type, every
 * truncation and random corruption: the same message, or the same error.
 */
import assert from "node:assert/strict";
import {
  create,
  type DescField,
  type DescMessage,
  fromBinary,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { TimestampSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { file_ijr_v1_job, JobSchema, ListJobsResponseSchema } from "../../lib/gen/ijr/v1/job_pb.ts";
import { file_ijr_v1_rootfs, UploadRootfsRequestSchema } from "../../lib/gen/ijr/v1/rootfs_pb.ts";
import { decodeMessage } from "../../lib/rpc/wire/message_decoder.ts";

const API_MESSAGES: DescMessage[] = [...file_ijr_v1_job.messages, ...file_ijr_v1_rootfs.messages];

/** A deterministic generator (xorshift), so a failure can be replayed. */
function randomSource(seed: number) {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  return {
    next,
    int: (below: number) => Math.floor(next() * below),
    pick: <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)],
  };
}
type Random = ReturnType<typeof randomSource>;

const STRINGS = [
  "",
  "a",
  "alice",
  "/bin/true",
  "héllo wörld",
  "日本語",
  "x".repeat(65),
  "é".repeat(40),
  // The ASCII fast path's lengths: one call per length up to 32, apply past it.
  "0123456789abcdef",
  "y".repeat(32),
  "z".repeat(33),
  "\u0000\u007f",
];
const INT32S = [0, 1, -1, 127, 128, 2 ** 31 - 1, -(2 ** 31), 300, -300];
const UINT32S = [0, 1, 127, 128, 2 ** 32 - 1, 2 ** 31, 65536];
const INT64S = [
  0n,
  1n,
  -1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  1_764_000_000n,
  2n ** 35n + 7n,
  2n ** 32n - 1n,
  2n ** 32n,
  -(2n ** 32n),
];
const UINT64S = [
  0n,
  1n,
  2n ** 64n - 1n,
  2n ** 63n,
  104_857_600n,
  2n ** 28n,
  2n ** 35n + 7n,
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 31n,
];

function scalarValue(random: Random, scalar: ScalarType): unknown {
  switch (scalar) {
    case ScalarType.STRING:
      return random.pick(STRINGS);
    case ScalarType.BYTES:
      return new Uint8Array(random.int(5)).map(() => random.int(256));
    case ScalarType.BOOL:
      return random.next() < 0.5;
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return random.pick(INT32S);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return random.pick(UINT32S);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return random.pick(INT64S);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return random.pick(UINT64S);
    case ScalarType.FLOAT:
      return random.pick([0, 1.5, -2.25]);
    case ScalarType.DOUBLE:
      return random.pick([0, 1.5, -2.25, 1e300]);
  }
}

function fieldValue(random: Random, field: DescField, depth: number): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return scalarValue(random, field.scalar);
    case "enum":
      return random.pick(field.enum.values).number;
    case "message":
      return depth > 3 ? undefined : randomMessage(random, field.message, depth + 1);
    case "list": {
      const items = Array.from({ length: random.int(4) }, () => {
        if (field.listKind === "scalar") return scalarValue(random, field.scalar);
        if (field.listKind === "enum") return random.pick(field.enum.values).number;
        return randomMessage(random, field.message, depth + 1);
      });
      return depth > 3 ? [] : items;
    }
    case "map":
      return {};
  }
}

/** A message of `schema` with each field set (or left at zero) at random. */
function randomMessage(random: Random, schema: DescMessage, depth = 0): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  for (const field of schema.fields) {
    if (field.oneof) continue; // filled below, one member at most
    if (random.next() < 0.8) init[field.localName] = fieldValue(random, field, depth);
  }
  for (const oneof of schema.oneofs) {
    if (random.next() < 0.5) continue;
    const member = random.pick(oneof.fields);
    init[oneof.localName] = { case: member.localName, value: fieldValue(random, member, depth) };
  }
  return create(schema, init) as Record<string, unknown>;
}

/** fromBinary's outcome: the message, or the error message it throws. */
function outcome(decode: () => unknown): { message?: unknown; error?: string } {
  try {
    return { message: decode() };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function assertSameDecode(schema: DescMessage, bytes: Uint8Array, what: string): void {
  assert.deepStrictEqual(
    outcome(() => decodeMessage(schema, bytes)),
    outcome(() => fromBinary(schema, bytes)),
    `${schema.typeName}: ${what}`,
  );
}

Deno.test("generated decoders give fromBinary's message for random messages of every API type", () => {
  const random = randomSource(0x1d5);
  for (const schema of API_MESSAGES) {
    for (let i = 0; i < 60; i++) {
      const bytes = toBinary(schema, randomMessage(random, schema) as never);
      assertSameDecode(schema, bytes, `random message ${i}`);
    }
  }
});

Deno.test("generated decoders: a job list, field for field", () => {
  const job = create(JobSchema, {
    id: "00000000000000ff",
    argv: ["sh", "-c", "echo 'héllo'"],
    exitCode: -3,
    limits: { memoryBytes: 2n ** 40n, readIops: [{ device: "/dev/vda", iops: 100n }] },
    startedAt: { seconds: 1_764_000_000n, nanos: 5 },
  });
  const bytes = toBinary(
    ListJobsResponseSchema,
    create(ListJobsResponseSchema, { jobs: [job, job] }),
  );
  const decoded = decodeMessage(ListJobsResponseSchema, bytes);
  assert.equal(decoded.jobs.length, 2);
  assert.equal(decoded.jobs[1].id, "00000000000000ff");
  assert.deepEqual(decoded.jobs[1].argv, ["sh", "-c", "echo 'héllo'"]);
  assert.equal(decoded.jobs[1].exitCode, -3);
  assert.equal(decoded.jobs[1].limits?.memoryBytes, 2n ** 40n);
  assert.equal(decoded.jobs[1].limits?.readIops[0].iops, 100n);
  assert.equal(decoded.jobs[1].startedAt?.nanos, 5);
  assert.equal(decoded.jobs[1].endedAt, undefined);
  assert.deepStrictEqual(decoded, fromBinary(ListJobsResponseSchema, bytes));
});

Deno.test("generated decoders: unknown fields, wire types and repeats as fromBinary has them", () => {
  const job = toBinary(
    JobSchema,
    create(JobSchema, { id: "a", exitCode: 7, limits: { pids: 9n } }),
  );
  const cases: [string, number[]][] = [
    ["an unknown varint field (a newer peer's)", [0xf8, 0x07, 0x01]], // field 127
    ["an unknown length-delimited field", [0xfa, 0x07, 0x02, 0x61, 0x62]],
    ["id (a string) sent as a varint", [0x08, 0x05]],
    ["exit_code sent length-delimited", [0x52, 0x01, 0x00]],
    ["limits sent twice (merged)", [0x3a, 0x02, 0x08, 0x05]],
    ["argv (repeated string) twice", [0x22, 0x01, 0x78, 0x22, 0x00]],
    ["a tag of field 0", [0x00, 0x01]],
    ["an end-group tag", [0x0c]],
    ["invalid UTF-8 in a string", [0x0a, 0x02, 0xc3, 0x28]],
    ["a varint of eleven bytes", [0x50, ...new Array(10).fill(0xff), 0x01]],
  ];
  for (const [what, extra] of cases) {
    assertSameDecode(JobSchema, new Uint8Array([...job, ...extra]), what);
  }
  // A 64-bit field (Timestamp.seconds): ten bytes at most.
  for (const length of [9, 10, 11]) {
    const varint = [...new Array(length - 1).fill(0xff), 0x01];
    assertSameDecode(TimestampSchema, new Uint8Array([0x08, ...varint]), `${length}-byte int64`);
  }
});

Deno.test("generated decoders: every truncation and random corruption ends as in fromBinary", () => {
  const random = randomSource(0xbad);
  for (const schema of [ListJobsResponseSchema, JobSchema]) {
    const bytes = toBinary(schema, randomMessage(random, schema) as never);
    for (let length = 0; length < bytes.length; length++) {
      assertSameDecode(schema, bytes.subarray(0, length), `cut to ${length} bytes`);
    }
    for (let i = 0; i < 500; i++) {
      const corrupt = bytes.slice();
      for (let k = 0; k <= random.int(3); k++) {
        corrupt[random.int(corrupt.length)] = random.int(256);
      }
      assertSameDecode(schema, corrupt, `corruption ${i}`);
    }
  }
});

Deno.test("generated decoders: a type with a oneof or a map is left to fromBinary", () => {
  const random = randomSource(7);
  for (let i = 0; i < 50; i++) {
    const upload = toBinary(
      UploadRootfsRequestSchema,
      randomMessage(random, UploadRootfsRequestSchema) as never,
    );
    assertSameDecode(UploadRootfsRequestSchema, upload, `upload request ${i}`);
  }
  const value = toBinary(
    ValueSchema,
    create(ValueSchema, { kind: { case: "stringValue", value: "x" } }),
  );
  assertSameDecode(ValueSchema, value, "google.protobuf.Value");
});
