/**
 * Loads libijr.so from bytes. The bytes are copied into an anonymous memory file
 * (memfd_create) and opened through /proc/self/fd/N, so the same loader works under
 * `deno run` (bytes read from build/) and in a compiled binary (bytes embedded with
 * `deno compile --include`), and neither needs a writable or exec-mounted /tmp.
 * @module
 */

import { abiHash } from "./abi.ts";
import { describeErrno } from "./errno.ts";
import { cString, lastErrno, openLibc } from "./libc.ts";
import { LIBIJR_SYMBOLS, type LibijrSymbols } from "./symbols.ts";

/** Where `make lib` puts the library; `deno compile --include` embeds this same path. */
export const LIBIJR_URL: URL = new URL("../../build/libijr.so", import.meta.url);

const MFD_CLOEXEC = 0x0001;

/** Reads the library's bytes, with an error that says how to build it. */
export function readLibijrBytes(url: URL = LIBIJR_URL): Uint8Array {
  try {
    return Deno.readFileSync(url);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`libijr.so not found at ${url.pathname}: run 'make lib' first`);
    }
    throw error;
  }
}

/**
 * Opens a shared library held in memory and returns its symbols. The memfd stays open for
 * the life of the process: the dynamic loader keeps the mapping, the fd keeps the name.
 */
export function dlopenFromBytes<S extends Deno.ForeignLibraryInterface>(
  name: string,
  bytes: Uint8Array,
  symbols: S,
): Deno.DynamicLibrary<S> {
  const libc = openLibc();
  const fd = libc.memfd_create(cString(name), MFD_CLOEXEC);
  if (fd < 0) throw new Error(`memfd_create(${name}) failed: ${describeErrno(lastErrno())}`);
  const path = `/proc/self/fd/${fd}`;
  try {
    Deno.writeFileSync(path, bytes);
    return Deno.dlopen(path, symbols);
  } catch (error) {
    libc.close(fd);
    throw error;
  }
}

let library: LibijrSymbols | undefined;

/**
 * Opens libijr once per process and checks that it was built from the same declaration of
 * what the two sides share (lib/native/abi.ts): a stale library is refused, not misread.
 */
export function libijr(): LibijrSymbols {
  if (library) return library;
  const opened = dlopenFromBytes("libijr.so", readLibijrBytes(), LIBIJR_SYMBOLS).symbols;
  const built = opened.ijr_abi_hash();
  if (built !== abiHash()) {
    throw new Error(
      `libijr.so was built from another ABI (hash ${built.toString(16)}, this code has ` +
        `${abiHash().toString(16)}): run 'make abi lib'`,
    );
  }
  library = opened;
  return library;
}
