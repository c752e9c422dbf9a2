/**
 * Every libijr.so function and its FFI signature. Each concern keeps its own table in its
 * own file; this one merges them, so `Deno.dlopen` sees one interface.
 * @module
 */

import { ABI_SYMBOLS } from "./symbols_abi.ts";
import { EXTRACT_SYMBOLS } from "./symbols_extract.ts";
import { PROCESS_WATCH_SYMBOLS } from "./symbols_process_watch.ts";
import { RECORD_FILE_SYMBOLS } from "./symbols_record_file.ts";
import { SPAWN_SYMBOLS } from "./symbols_spawn.ts";

/** The whole libijr interface. */
export const LIBIJR_SYMBOLS = {
  ...ABI_SYMBOLS,
  ...EXTRACT_SYMBOLS,
  ...SPAWN_SYMBOLS,
  ...PROCESS_WATCH_SYMBOLS,
  ...RECORD_FILE_SYMBOLS,
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened libijr's callable functions. */
export type LibijrSymbols = Deno.DynamicLibrary<typeof LIBIJR_SYMBOLS>["symbols"];
