/**
 * The compiled binaries alone (copied to an empty folder, no repository beside them) run
 * the proposal flow. `deno compile` needs denort, which only DENORT_BIN can supply on these
 * machines; without it this test is skipped with a visible reason.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { busyboxTarball } from "../helpers/busybox.ts";
import { REPO } from "../helpers/cli.ts";
import { IS_ROOT } from "../helpers/root.ts";

const denort = Deno.env.get("DENORT_BIN");
const reason = !denort
  ? "DENORT_BIN is not set (deno compile needs the denort runtime; see README)"
  : !IS_ROOT
  ? "not running as root"
  : undefined;
if (reason) console.error(`SKIP: compiled binaries test: ${reason}`);

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test({
  name: "binaries: dist/ijrd and dist/ijrctl alone run the proposal flow",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const build = await run("make", ["-C", REPO, "build"]);
    assert.equal(build.code, 0, build.stderr);
    const dir = await Deno.makeTempDir({ prefix: "ijr-e2e-bin-" });
    let daemon: Deno.ChildProcess | undefined;
    try {
      for (const name of ["ijrd", "ijrctl"]) {
        await Deno.copyFile(join(REPO, "dist", name), join(dir, name));
        await Deno.chmod(join(dir, name), 0o755);
      }
      const ijrctl = join(dir, "ijrctl");
      assert.equal((await run(ijrctl, ["--version"])).stdout, "0.1.0\n");
      assert.equal((await run(join(dir, "ijrd"), ["--version"])).stdout, "0.1.0\n");
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      listener.close();
      const init = await run(ijrctl, [
        "certs",
        "init",
        `--dir=${dir}/certs`,
        `--address=localhost:${port}`,
      ]);
      assert.equal(init.code, 0, init.stderr);
      const env = { IJR_CONFIG: `${dir}/certs/config.json` };
      daemon = new Deno.Command(join(dir, "ijrd"), {
        args: [
          "--server=localhost",
          `--port=${port}`,
          "--listen=127.0.0.1",
          `--cert=${dir}/certs/server.crt`,
          `--key=${dir}/certs/server.key`,
          `--ca=${dir}/certs/ca.crt`,
          `--rootfs=${dir}/rootfs`,
          `--state=${dir}/state`,
        ],
        cwd: dir,
        stdout: "null",
        stderr: "null",
      }).spawn();
      let upload;
      for (let i = 0; i < 100; i++) {
        upload = await run(ijrctl, [
          "rootfs",
          "upload",
          `--file=${await busyboxTarball()}`,
          "--name=bb",
        ], env);
        if (upload.code === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(upload?.code, 0, upload?.stderr ?? "no upload attempted");
      const job = await run(ijrctl, [
        "job",
        "start",
        "--rootfs=bb",
        "--output",
        "--command=hostname",
      ], env);
      assert.equal(job.code, 0, job.stderr);
      const [id, host] = job.stdout.trim().split("\n");
      assert.equal(host, id);
    } finally {
      if (daemon) {
        daemon.kill("SIGTERM");
        await daemon.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
