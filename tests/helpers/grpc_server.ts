/**
 * Starts IJR's gRPC server with its mutual TLS on a free loopback port, for tests, behind the
 * same listener as ijrd's.
 * @module
 */

import type * as grpc from "@grpc/grpc-js";
import {
  type CallContext,
  listenMutualTls,
  RpcServer,
  type ServiceHandlers,
  type TlsMaterial,
} from "../../lib/rpc/transport/mod.ts";
import { clientCredentials } from "./grpc_js_credentials.ts";
import type { JobService } from "../../lib/gen/ijr/v1/job_pb.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import type { TestPki } from "./pki.ts";

/** A running test server. */
export interface TestServer {
  readonly server: RpcServer;
  readonly port: number;
  /** Address clients dial: a DNS name, as certificate checks need. */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Serves `server` on 127.0.0.1 with an ephemeral port and mutual TLS, behind ijrd's own
 * listener (lib/rpc/transport/listener.ts), as ijrd does.
 */
export async function startTestServer(
  server: RpcServer,
  material: TlsMaterial,
): Promise<TestServer> {
  const listener = await listenMutualTls(server, { host: "127.0.0.1", port: 0 }, material);
  const port = listener.port;
  return {
    server,
    port,
    address: `localhost:${port}`,
    close: async () => {
      listener.close();
      server.drain();
      // Streams that a test left open must not hold the shutdown forever.
      await listener.closed(2000);
      server.close();
      await listener.closed(1000);
    },
  };
}

/** Binds `server` as {@link startTestServer} does, with the test PKI's server certificate. */
export function startPkiServer(server: RpcServer, pki: TestPki): Promise<TestServer> {
  return startTestServer(server, {
    caPem: pki.ca.certPem,
    certPem: pki.server.certPem,
    keyPem: pki.server.keyPem,
  });
}

/** The TLS material of one of the test PKI's users, trusting its CA (IJR's client takes it). */
export function tlsOf(pki: TestPki, user: "admin" | "alice" | "bob"): TlsMaterial {
  return { caPem: pki.ca.certPem, certPem: pki[user].certPem, keyPem: pki[user].keyPem };
}

/** grpc-js credentials of one of the test PKI's users, trusting its CA (for raw clients). */
export function credentialsOf(
  pki: TestPki,
  user: "admin" | "alice" | "bob",
): grpc.ChannelCredentials {
  return clientCredentials(tlsOf(pki, user));
}

/** JobService handlers that answer GetJob with `getJob` and refuse every other method. */
export function getJobOnly(
  getJob: (context: CallContext) => Promise<Record<string, never>>,
): ServiceHandlers<typeof JobService.method> {
  const notHere = () => Promise.reject(new IjrError("INVALID_ARGUMENT", "not in this test"));
  return {
    getJob: (_request, context) => getJob(context),
    startJob: notHere,
    stopJob: notHere,
    listJobs: notHere,
    deleteJob: notHere,
    waitJob: notHere,
    async *streamOutput() {},
    async *runJob() {},
  };
}
