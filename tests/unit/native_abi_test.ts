import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import {
  abiConstant,
  enumValue,
  SPAWN_STEPS,
  structLayout,
  StructView,
} from "../../lib/native/abi.ts";
import { renderAbiHeader } from "../../lib/native/abi_render.ts";

Deno.test("ffi/ijr_abi.h is what lib/native/abi.ts renders (run `make abi` after a change)", () => {
  const committed = Deno.readTextFileSync(
    fromFileUrl(new URL("../../ffi/ijr_abi.h", import.meta.url)),
  );
  assert.equal(committed, renderAbiHeader());
});

Deno.test("struct layouts follow C's natural alignment", () => {
  // ijr_init_status: u32, u16, u16, i32, u16, u16, i64, i64 -> 32 bytes, no padding.
  assert.deepEqual(structLayout("ijr_init_status").offsets, {
    magic: 0,
    version: 4,
    kind: 6,
    value: 8,
    reason: 12,
    reserved: 14,
    end_sec: 16,
    end_nsec: 24,
  });
  assert.equal(structLayout("ijr_init_status").size, 32);
  // ijr_spawn_error: two i32 and a char array; padded to 4.
  assert.deepEqual(structLayout("ijr_spawn_error").offsets, {
    errno_value: 0,
    step: 4,
    detail: 8,
  });
  assert.equal(structLayout("ijr_spawn_error").size, 1032);
  // The extraction record header is 48 bytes, as the batches have always been laid out.
  assert.equal(structLayout("ijr_extract_record").size, 48);
  assert.equal(structLayout("ijr_extract_record").offsets.mtime_sec, 32);
});

Deno.test("enum values count from their first value, in declaration order", () => {
  assert.equal(enumValue("ijr_spawn_step", "validate_spec"), 0);
  assert.equal(enumValue("ijr_spawn_step", "exec_command"), SPAWN_STEPS.indexOf("exec_command"));
  assert.equal(enumValue("ijr_end_kind", "exit"), 1);
  assert.equal(enumValue("ijr_extract_op", "dir_time"), 7);
  assert.equal(abiConstant("IJR_INIT_END_FD"), 3);
});

Deno.test("StructView writes little-endian fields at their offsets and reads them back", () => {
  const status = new StructView("ijr_init_status");
  status.set("magic", 0x534a5249);
  status.set("version", 1);
  status.set("kind", 2);
  status.set("value", -5);
  assert.deepEqual([...status.bytes.subarray(0, 12)], [
    0x49,
    0x52,
    0x4a,
    0x53,
    1,
    0,
    2,
    0,
    0xfb,
    0xff,
    0xff,
    0xff,
  ]);
  assert.equal(status.get("value"), -5);
  assert.throws(() => status.set("nope", 1), /ijr_init_status has no field nope/);
  const error = new StructView("ijr_spawn_error");
  error.bytes.set(new TextEncoder().encode("/bin/x\0junk"), 8);
  assert.equal(new TextDecoder().decode(error.text("detail")), "/bin/x");
});
