/**
 * The version of ijrd and ijrctl, printed by `--version`: deno.json's, the one place it is
 * set (a compiled binary carries deno.json as a module of its own).
 * @module
 */

import config from "../deno.json" with { type: "json" };

/** This build's version. */
export const VERSION: string = config.version;
