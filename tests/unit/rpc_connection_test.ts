/**
 * A caller's identity is kept per connection (lib/rpc/services/caller.ts), over IJR's gRPC server
 * and clients with mutual TLS: every call on one connection sees the same connection object,
 * another connection another one, and each connection's caller is the subject of its own
 * certificate, also when a closed connection is followed by a new one.
 */
import assert from "node:assert/strict";
import { JobService } from "../../lib/gen/ijr/v1/job_pb.ts";
import { addService, type CallContext, RpcServer } from "../../lib/rpc/transport/mod.ts";
import { createClient } from "../../lib/rpc/client/mod.ts";
import { callerOf } from "../../lib/rpc/services/caller.ts";
import { testPki } from "../helpers/pki.ts";
import { getJobOnly, startPkiServer, tlsOf } from "../helpers/grpc_server.ts";

type Client = ReturnType<typeof createClient<typeof JobService.method>>;

/**
 * Serves a JobService whose GetJob is `getJob` (every other method refuses) with mutual TLS,
 * and runs `fn` with a way to connect as each test user.
 */
async function withGetJob(
  getJob: (context: CallContext) => Promise<Record<string, never>>,
  fn: (clientOf: (user: "alice" | "bob" | "admin") => Client) => Promise<void>,
): Promise<void> {
  const pki = await testPki();
  const server = new RpcServer();
  addService(server, JobService, getJobOnly(getJob));
  const running = await startPkiServer(server, pki);
  try {
    await fn((user) => createClient(JobService, running.address, tlsOf(pki, user)));
  } finally {
    await running.close();
  }
}

Deno.test("rpc: a caller is read once per connection, each from its own certificate", async () => {
  const seen: { connection?: object; caller: string }[] = [];
  const getJob = (context: CallContext) => {
    const caller = callerOf(context);
    seen.push({ connection: context.connection, caller: `${caller.name}(${caller.role})` });
    return Promise.resolve({});
  };
  await withGetJob(getJob, async (clientOf) => {
    const alice = clientOf("alice");
    await alice.getJob({});
    await alice.getJob({});
    alice.close();
    const bob = clientOf("bob");
    await bob.getJob({});
    const admin = clientOf("admin");
    await admin.getJob({});
    await bob.getJob({});
    bob.close();
    admin.close();

    assert.deepEqual(seen.map((call) => call.caller), [
      "alice(user)",
      "alice(user)",
      "bob(user)",
      "admin(admin)",
      "bob(user)",
    ]);
    for (const call of seen) assert.equal(typeof call.connection, "object");
    const [alice1, alice2, bob1, admin1, bob2] = seen.map((call) => call.connection);
    assert.equal(alice1, alice2);
    assert.equal(bob1, bob2);
    assert.equal(new Set([alice1, bob1, admin1]).size, 3);
  });
});
