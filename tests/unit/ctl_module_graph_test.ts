/**
 * ijrctl runs on laptops: its module graph must not contain the daemon, the native library
 * loader, cgroups, the job engine or the rootfs store.
 */
import assert from "node:assert/strict";
import { REPO } from "../helpers/cli.ts";

Deno.test("ijrctl does not load daemon, FFI, cgroup, job or rootfs code", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "ctl.ts"],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout));
  const local = (graph.modules as { specifier: string }[])
    .map((m) => m.specifier)
    .filter((s) => s.startsWith("file://"))
    .map((s) => s.slice(s.indexOf("/lib/") + 1));
  const forbidden = local.filter((path) =>
    /^lib\/(daemon|native|cgroup|job|rootfs)\//.test(path) || path.endsWith("daemon.ts")
  );
  assert.deepEqual(forbidden, []);
  // It does reach the client side: commands, the RPC client and TLS.
  for (const needed of ["lib/ctl/job_commands.ts", "lib/rpc/adapter.ts", "lib/rpc/tls.ts"]) {
    assert.ok(local.includes(needed), needed);
  }
});
