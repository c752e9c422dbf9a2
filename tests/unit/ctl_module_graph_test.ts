/**
 * ijrctl runs on laptops: its module graph must not contain the daemon, the native library
 * loader, cgroups, the job engine, the rootfs store or the server's services. Neither binary
 * loads grpc-js or node:http2 (their loading cost ijrctl about 80 ms, and Deno's nghttp2 could
 * be aborted by any client's frames): both speak IJR's own HTTP/2 (lib/rpc/h2).
 */
import assert from "node:assert/strict";
import { moduleGraph } from "../helpers/cli.ts";

Deno.test("ijrctl does not load daemon, FFI, cgroup, job, rootfs, service or grpc-js code", async () => {
  const graph = await moduleGraph("ctl.ts");
  const local = graph.filter((path) => !/^(npm|node|jsr|https?):/.test(path));
  assert.deepEqual(graph.filter((path) => /^npm:.*@grpc\/|^node:http2$/.test(path)), []);
  const forbidden = local.filter((path) =>
    /^lib\/(daemon|native|cgroup|job|rootfs|rpc\/services)\//.test(path) ||
    /^lib\/rpc\/transport\//.test(path) || path.endsWith("daemon.ts")
  );
  assert.deepEqual(forbidden, []);
  // It does reach the client side: commands, the RPC client and TLS.
  for (
    const needed of [
      "lib/ctl/job_commands.ts",
      "lib/rpc/client/calls.ts",
      "lib/rpc/h2/connection.ts",
      "lib/rpc/wire/tls_options.ts",
    ]
  ) {
    assert.ok(local.includes(needed), needed);
  }
});

Deno.test("ijrd serves on IJR's own HTTP/2: no grpc-js, no node:http2", async () => {
  const graph = await moduleGraph("daemon.ts");
  assert.deepEqual(graph.filter((path) => /^npm:.*@grpc\/|^node:http2$/.test(path)), []);
  for (const needed of ["lib/rpc/h2/server_connection.ts", "lib/rpc/transport/server.ts"]) {
    assert.ok(graph.includes(needed), needed);
  }
});
