import assert from "node:assert/strict";
import { abiConstant, StructView } from "../../lib/native/abi.ts";
import { parseCommandStatus } from "../../lib/native/spawn.ts";
import { commandEnd } from "../../lib/job/command_end.ts";

type Field = "magic" | "version" | "kind" | "value" | "reason" | "reserved";

function report(fields: Partial<Record<Field, number>> & { endSec?: bigint; endNsec?: bigint }) {
  const status = new StructView("ijr_init_status");
  status.set("magic", fields.magic ?? abiConstant("IJR_INIT_STATUS_MAGIC"));
  status.set("version", fields.version ?? abiConstant("IJR_INIT_PROTOCOL_VERSION"));
  status.set("kind", fields.kind ?? 1);
  status.set("value", fields.value ?? 0);
  status.set("reason", fields.reason ?? 0);
  status.set("reserved", fields.reserved ?? 0);
  status.set("end_sec", fields.endSec ?? 1_700_000_000n);
  status.set("end_nsec", fields.endNsec ?? 250_000_000n);
  return status.bytes;
}

const endedAt = new Date(1_700_000_000_250);

Deno.test("init status: exit 0..255 and signals 1..64 are taken as reported", () => {
  assert.deepEqual(parseCommandStatus(report({ kind: 1, value: 0 })), { exitCode: 0, endedAt });
  assert.deepEqual(parseCommandStatus(report({ kind: 1, value: 255 })), {
    exitCode: 255,
    endedAt,
  });
  assert.deepEqual(parseCommandStatus(report({ kind: 2, value: 1 })), { signal: 1, endedAt });
  assert.deepEqual(parseCommandStatus(report({ kind: 2, value: 64 })), { signal: 64, endedAt });
  // Why the init stopped the job itself, when it did.
  assert.deepEqual(parseCommandStatus(report({ kind: 2, value: 15, reason: 1 })), {
    signal: 15,
    stoppedBy: "timeout",
    endedAt,
  });
  assert.deepEqual(parseCommandStatus(report({ kind: 1, value: 0, reason: 2 })), {
    exitCode: 0,
    stoppedBy: "output_limit",
    endedAt,
  });
});

Deno.test("init status: anything else is invalid, with the reason", () => {
  const cases: [Uint8Array<ArrayBuffer>, string][] = [
    [report({ kind: 1, value: 256 }), "the status report has exit status 256"],
    [report({ kind: 1, value: -1 }), "the status report has exit status -1"],
    [report({ kind: 2, value: 0 }), "the status report has signal 0"],
    [report({ kind: 2, value: 65 }), "the status report has signal 65"],
    [report({ kind: 3 }), "the status report has kind 3"],
    [report({ magic: 0x74697865 }), "the status report has a wrong magic number"],
    [report({ version: 1 }), "the status report has protocol version 1"],
    [report({ reserved: 1 }), "the status report's reserved field is set"],
    [report({ reason: 3 }), "the status report has stop reason 3"],
    [report({ endSec: 0n }), "the status report has end time 0.250000000"],
    [report({ endNsec: 1_000_000_000n }), "the status report has end time 1700000000.1000000000"],
    [new TextEncoder().encode("exit 0\n"), "the status report has 7 bytes, not 32"],
    [new Uint8Array([...report({}), ...report({})]), "the status report has 64 bytes, not 32"],
  ];
  for (const [bytes, reason] of cases) {
    assert.deepEqual(parseCommandStatus(bytes), { invalid: reason });
  }
});

Deno.test("command end: the report must agree with how the init itself ended", () => {
  assert.deepEqual(commandEnd({ exitCode: 7 }, { exitCode: 7 }), { exitCode: 7 });
  assert.deepEqual(commandEnd({ signal: 15 }, { exitCode: 143 }), { signal: 15 });
  // Killed by a stop's SIGKILL after its report: the report was made first.
  assert.deepEqual(commandEnd({ exitCode: 3 }, { signal: 9 }), { exitCode: 3 });
  assert.deepEqual(commandEnd({ exitCode: 0 }, { exitCode: 7 }), {
    invalid: "it said exit 0, but the init exited with 7",
  });
  assert.deepEqual(commandEnd({ signal: 9 }, { signal: 15 }), {
    invalid: "it said signal 9, but the init was killed by signal 15",
  });
  // No report: the init's own end stands in; an invalid report stays invalid.
  assert.deepEqual(commandEnd(undefined, { signal: 9 }), { signal: 9 });
  assert.deepEqual(commandEnd(undefined, { exitCode: 125 }), { exitCode: 125 });
  assert.deepEqual(commandEnd(undefined, {}), {});
  assert.deepEqual(commandEnd({ invalid: "x" }, { exitCode: 0 }), { invalid: "x" });
  // Not reaped by ijrd (adopted, or ended while ijrd was down): the report alone, or nothing.
  assert.deepEqual(commandEnd({ exitCode: 7 }, undefined), { exitCode: 7 });
  assert.deepEqual(commandEnd({ signal: 9, stoppedBy: "timeout" }, undefined), {
    signal: 9,
    stoppedBy: "timeout",
  });
  assert.deepEqual(commandEnd({ invalid: "x" }, undefined), { invalid: "x" });
  assert.deepEqual(commandEnd(undefined, undefined), {});
});
