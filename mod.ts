/**
 * IJR, the Isolated Job Runner: the library that ijrd and ijrctl are built from.
 * Re-exports only; every concern lives in its own folder under lib/.
 * @module
 */

export * from "./lib/rpc/mod.ts";
