/**
 * A caller's identity is kept per connection (lib/rpc/connection.ts, caller.ts), over a real
 * grpc-js server and clients with mutual TLS: every call on one connection sees the same
 * connection object, another connection another one, and each connection's caller is the
 * subject of its own certificate, also when a closed connection is followed by a new one; and
 * an answer corks the connection's socket until the end of its turn (connection.ts).
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { JobService } from "../../lib/gen/ijr/v1/job_pb.ts";
import { addService, type CallContext } from "../../lib/rpc/transport/mod.ts";
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
  const server = new grpc.Server();
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
    // The pinned grpc-js has the shape connectionOf reads; without it every call would parse
    // its certificate again.
    for (const call of seen) assert.equal(typeof call.connection, "object");
    const [alice1, alice2, bob1, admin1, bob2] = seen.map((call) => call.connection);
    assert.equal(alice1, alice2);
    assert.equal(bob1, bob2);
    assert.equal(new Set([alice1, bob1, admin1]).size, 3);
  });
});

Deno.test("rpc: an answer's writes are corked for the rest of the turn, then uncorked", async () => {
  const events: string[] = [];
  type Corkable = { cork(): void; uncork(): void; writableCorked: number };
  let socket: Corkable | undefined;
  const getJob = (context: CallContext) => {
    // The pinned grpc-js and Deno give the session a socket that corks; each call records
    // what the adapter does with it once the handler has answered.
    const current = (context.connection as { socket: Corkable }).socket;
    if (socket === undefined) {
      socket = current;
      for (const name of ["cork", "uncork"] as const) {
        const original = current[name].bind(current);
        current[name] = () => {
          events.push(name);
          original();
        };
      }
    }
    assert.equal(current, socket, "both calls came on one connection");
    events.push("answered");
    return Promise.resolve({});
  };
  await withGetJob(getJob, async (clientOf) => {
    const alice = clientOf("alice");
    assert.deepEqual(await alice.getJob({}), await alice.getJob({}));
    // Per call: corked when its answer goes out, uncorked at the end of that turn.
    assert.deepEqual(events, ["answered", "cork", "uncork", "answered", "cork", "uncork"]);
    assert.equal(socket?.writableCorked, 0, "the connection was left corked");
    alice.close();
  });
});
