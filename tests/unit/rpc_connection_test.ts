/**
 * A caller's identity is kept per connection (lib/rpc/connection.ts, caller.ts), over a real
 * grpc-js server and clients with mutual TLS: every call on one connection sees the same
 * connection object, another connection another one, and each connection's caller is the
 * subject of its own certificate, also when a closed connection is followed by a new one.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { JobService } from "../../lib/gen/ijr/v1/job_pb.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import {
  addService,
  type CallContext,
  clientCredentials,
  createClient,
} from "../../lib/rpc/transport/mod.ts";
import { callerOf } from "../../lib/rpc/services/caller.ts";
import { testPki } from "../helpers/pki.ts";
import { startTestServer } from "../helpers/grpc_server.ts";

const notHere = () => Promise.reject(new IjrError("INVALID_ARGUMENT", "not in this test"));

Deno.test("rpc: a caller is read once per connection, each from its own certificate", async () => {
  const pki = await testPki();
  const seen: { connection?: object; caller: string }[] = [];
  const server = new grpc.Server();
  addService(server, JobService, {
    getJob(_request, context: CallContext) {
      const caller = callerOf(context);
      seen.push({ connection: context.connection, caller: `${caller.name}(${caller.role})` });
      return Promise.resolve({});
    },
    startJob: notHere,
    stopJob: notHere,
    listJobs: notHere,
    deleteJob: notHere,
    waitJob: notHere,
    async *streamOutput() {},
    async *runJob() {},
  });
  const running = await startTestServer(server, {
    caPem: pki.ca.certPem,
    certPem: pki.server.certPem,
    keyPem: pki.server.keyPem,
  });
  const clientOf = (user: "alice" | "bob" | "admin") =>
    createClient(
      JobService,
      running.address,
      clientCredentials({
        caPem: pki.ca.certPem,
        certPem: pki[user].certPem,
        keyPem: pki[user].keyPem,
      }),
    );
  try {
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
  } finally {
    await running.close();
  }
});

Deno.test("rpc: an answer's writes are corked for the rest of the turn, then uncorked", async () => {
  const pki = await testPki();
  const events: string[] = [];
  type Corkable = { cork(): void; uncork(): void; writableCorked: number };
  let socket: Corkable | undefined;
  const server = new grpc.Server();
  addService(server, JobService, {
    getJob(_request, context: CallContext) {
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
    },
    startJob: notHere,
    stopJob: notHere,
    listJobs: notHere,
    deleteJob: notHere,
    waitJob: notHere,
    async *streamOutput() {},
    async *runJob() {},
  });
  const running = await startTestServer(server, {
    caPem: pki.ca.certPem,
    certPem: pki.server.certPem,
    keyPem: pki.server.keyPem,
  });
  const alice = createClient(
    JobService,
    running.address,
    clientCredentials({
      caPem: pki.ca.certPem,
      certPem: pki.alice.certPem,
      keyPem: pki.alice.keyPem,
    }),
  );
  try {
    assert.deepEqual(await alice.getJob({}), await alice.getJob({}));
    // Per call: corked when its answer goes out, uncorked at the end of that turn.
    assert.deepEqual(events, ["answered", "cork", "uncork", "answered", "cork", "uncork"]);
    assert.equal(socket?.writableCorked, 0, "the connection was left corked");
  } finally {
    alice.close();
    await running.close();
  }
});
