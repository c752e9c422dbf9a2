/**
 * The transport's floor for bench/api_speed_bench.ts: a bare grpc-js server with IJR's mutual
 * TLS (lib/rpc/tls.ts: TLS 1.3, the three suites, client certificates required) and two
 * unary methods with no protobuf and no handler work: Echo answers its request's bytes, Sized
 * answers as many zero bytes as its request's first four bytes say (big-endian), to match an
 * RPC's answer in size. Run in a process of its own, like ijrd, it prints its port on stdout.
 *
 * Run: .tools/bin/deno run -A bench/echo_server.ts CA_PEM CERT_PEM KEY_PEM
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import type { TlsMaterial } from "../lib/rpc/transport/mod.ts";
import { serverCredentials } from "../tests/helpers/grpc_js_credentials.ts";

/** The echo method's path. */
export const ECHO_PATH = "/bench.Echo/Echo";
/** The path of the method that answers a given number of bytes. */
export const SIZED_PATH = "/bench.Echo/Sized";

const bytes = (value: Buffer) => value;

const method = (path: string) => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: bytes,
  requestDeserialize: bytes,
  responseSerialize: bytes,
  responseDeserialize: bytes,
});

/** A grpc-js server with the echo methods, not yet bound. */
export function echoServer(): grpc.Server {
  const server = new grpc.Server();
  server.addService({ echo: method(ECHO_PATH), sized: method(SIZED_PATH) }, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, reply: grpc.sendUnaryData<Buffer>) =>
      reply(null, call.request),
    sized: (call: grpc.ServerUnaryCall<Buffer, Buffer>, reply: grpc.sendUnaryData<Buffer>) =>
      reply(null, Buffer.alloc(call.request.readUInt32BE(0))),
  });
  return server;
}

/** Binds `server` on a free loopback port with IJR's mutual TLS; resolves with the port. */
export function bindEcho(server: grpc.Server, tls: TlsMaterial): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      serverCredentials(tls),
      (error, port) => error ? reject(error) : resolve(port),
    )
  );
}

if (import.meta.main) {
  const [caPem, certPem, keyPem] = Deno.args.map((path) => Deno.readTextFileSync(path));
  console.log(await bindEcho(echoServer(), { caPem, certPem, keyPem }));
}
