/**
 * A Debian bookworm root file system (debootstrap --variant=minbase from Debian's mirror, the
 * one source besides npm the build machines reach), made once under build/fixtures and
 * reused: real distribution programs (dpkg, perl, a POSIX shell) for the tests that must run
 * them unchanged.
 * @module
 */

import { join } from "node:path";
import { FIXTURES_DIR } from "./busybox.ts";

const DIR = join(FIXTURES_DIR, "debian-bookworm");

let building: Promise<string> | undefined;

/** The rootfs folder, made with debootstrap the first time. */
export function debianRootfsDir(): Promise<string> {
  building ??= (async () => {
    try {
      if (Deno.statSync(join(DIR, "usr", "bin", "dpkg")).isFile) return DIR;
    } catch { /* not made yet */ }
    const temp = `${DIR}.tmp`;
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    const out = await new Deno.Command("debootstrap", {
      args: ["--variant=minbase", "bookworm", temp, "http://deb.debian.org/debian"],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      await Deno.remove(temp, { recursive: true }).catch(() => {});
      throw new Error(`debootstrap failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    await Deno.rename(temp, DIR);
    return DIR;
  })();
  return building;
}
