/**
 * ijrctl runs on laptops: its module graph must not contain the daemon, the native library
 * loader, cgroups, the job engine, the rootfs store or the server's services.
 */
import assert from "node:assert/strict";
import { moduleGraph } from "../helpers/cli.ts";

Deno.test("ijrctl does not load daemon, FFI, cgroup, job, rootfs or service code", async () => {
  const local = (await moduleGraph("ctl.ts")).filter((path) =>
    !/^(npm|node|jsr|https?):/.test(path)
  );
  const forbidden = local.filter((path) =>
    /^lib\/(daemon|native|cgroup|job|rootfs|rpc\/services)\//.test(path) ||
    path.endsWith("daemon.ts")
  );
  assert.deepEqual(forbidden, []);
  // It does reach the client side: commands, the RPC client and TLS.
  for (
    const needed of [
      "lib/ctl/job_commands.ts",
      "lib/rpc/transport/adapter.ts",
      "lib/rpc/transport/tls.ts",
    ]
  ) {
    assert.ok(local.includes(needed), needed);
  }
});
