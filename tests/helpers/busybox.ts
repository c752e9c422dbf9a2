/**
 * The busybox root file system fixture, built from the host's static busybox (Debian package
 * busybox-static), never downloaded. Built once under build/fixtures and reused.
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

const REPO = dirname(dirname(dirname(fromFileUrl(import.meta.url))));

/** Where the fixtures live (git-ignored). */
export const FIXTURES_DIR: string = join(REPO, "build", "fixtures");

/** The static C probe built by `make fixtures` (tests/fixtures/probe.c). */
export const PROBE_PATH: string = join(REPO, "build", "probe");

const BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox"];

function findStaticBusybox(): string {
  for (const path of BUSYBOX_CANDIDATES) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* try the next one */ }
  }
  throw new Error("no static busybox: apt-get install -y busybox-static");
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

let building: Promise<string> | undefined;

/**
 * A directory holding a busybox root file system: /bin with busybox and its applet links
 * (absolute symlinks, as distributions ship them), /etc with passwd and group, empty /proc,
 * /dev, /sys, /tmp (mode 1777), /root, and the probe as /bin/probe when it was built.
 * Top-level entries: bin dev etc proc root sys tmp usr var.
 */
export function busyboxRootfsDir(): Promise<string> {
  building ??= buildBusyboxRootfs();
  return building;
}

/** The fixture is fresh when built after the probe (rebuilt when the probe changes). */
function isFresh(stamp: string): boolean {
  try {
    const built = Deno.statSync(stamp).mtime!.getTime();
    try {
      return Deno.statSync(PROBE_PATH).mtime!.getTime() <= built;
    } catch {
      return true;
    }
  } catch {
    return false;
  }
}

async function buildBusyboxRootfs(): Promise<string> {
  const dir = join(FIXTURES_DIR, "busybox-rootfs");
  const stamp = join(FIXTURES_DIR, "busybox-rootfs.done");
  if (isFresh(stamp)) return dir;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  for (const sub of ["bin", "dev", "etc", "proc", "root", "sys", "tmp", "usr/bin", "var"]) {
    await Deno.mkdir(join(dir, sub), { recursive: true });
  }
  await Deno.chmod(join(dir, "tmp"), 0o1777);
  await Deno.copyFile(findStaticBusybox(), join(dir, "bin", "busybox"));
  await Deno.chmod(join(dir, "bin", "busybox"), 0o755);
  const applets = (await run(join(dir, "bin", "busybox"), ["--list"])).split("\n").filter(Boolean);
  for (const applet of applets) {
    if (applet === "busybox") continue;
    await Deno.symlink("/bin/busybox", join(dir, "bin", applet)).catch((error) => {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    });
  }
  await Deno.writeTextFile(join(dir, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  await Deno.writeTextFile(join(dir, "etc", "group"), "root:x:0:\n");
  try {
    await Deno.copyFile(PROBE_PATH, join(dir, "bin", "probe"));
    await Deno.chmod(join(dir, "bin", "probe"), 0o755);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.writeTextFile(stamp, new Date().toISOString());
  return dir;
}

/** A gzipped tarball of the busybox rootfs, made with GNU tar (the reference implementation). */
export async function busyboxTarball(): Promise<string> {
  const dir = await busyboxRootfsDir();
  const tarball = join(FIXTURES_DIR, "busybox-rootfs.tar.gz");
  try {
    // Fresh only when made after the tree it packs (rebuilt with a new probe).
    const made = Deno.statSync(tarball).mtime!.getTime();
    const tree = Deno.statSync(join(FIXTURES_DIR, "busybox-rootfs.done")).mtime!.getTime();
    if (made >= tree) return tarball;
  } catch { /* not built yet */ }
  await run("tar", ["-C", dir, "--numeric-owner", "-czf", `${tarball}.tmp`, "."]);
  await Deno.rename(`${tarball}.tmp`, tarball);
  return tarball;
}
