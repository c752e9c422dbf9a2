/**
 * What one request and its answer cost at each layer of the stack ijrd's API runs on, in the
 * same run, each server in a process of its own: a 1-byte ping-pong over plain TCP, the same over
 * Deno's TLS (Deno.listenTls / Deno.connectTls), a bare `node:http2` request with a gRPC-shaped
 * answer (headers, 69 bytes of data, trailers) over mutual TLS, and a grpc-js unary echo with
 * IJR's mutual TLS (bench/echo_server.ts). Calls go one after another, warm (back to back) and
 * after a 20 ms rest, in a rotating order; medians. It shows where a call's time goes below
 * IJR's own code (bench/README.md, "The API's speed").
 *
 * Run: .tools/bin/deno run -A bench/transport_floor_bench.ts [calls per case and rest]
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import http2 from "node:http2";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { clientCredentials } from "../tests/helpers/grpc_js_credentials.ts";
import { testPki } from "../tests/helpers/pki.ts";
import { bindEcho, ECHO_PATH, echoServer } from "./echo_server.ts";

const REST_MS = 20;

/** The servers' process: raw TCP and TLS echoes, a bare HTTP/2 server and the gRPC echo. */
async function serve(dir: string): Promise<void> {
  const read = (name: string) => Deno.readTextFileSync(join(dir, name));
  const echoBytes = async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(256);
    for (;;) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) return;
      await conn.write(buffer.subarray(0, n));
    }
  };
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tls = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: read("server.crt"),
    key: read("server.key"),
  });
  const h2 = http2.createSecureServer({
    ca: read("ca.crt"),
    cert: read("server.crt"),
    key: read("server.key"),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  });
  h2.on("stream", (stream: http2.ServerHttp2Stream) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
        waitForTrailers: true,
      });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(Buffer.concat(chunks));
    });
  });
  const h2Port = await new Promise<number>((resolve) =>
    h2.listen(0, "127.0.0.1", () => resolve((h2.address() as { port: number }).port))
  );
  const grpcPort = await bindEcho(echoServer(), {
    caPem: read("ca.crt"),
    certPem: read("server.crt"),
    keyPem: read("server.key"),
  });
  const ports = [tcp, tls].map((listener) => (listener.addr as Deno.NetAddr).port);
  console.log(JSON.stringify({ tcp: ports[0], tls: ports[1], h2: h2Port, grpc: grpcPort }));
  (async () => {
    for await (const conn of tcp) {
      conn.setNoDelay(true);
      echoBytes(conn);
    }
  })();
  for await (const conn of tls) echoBytes(conn);
}

async function main(): Promise<void> {
  const calls = Number(Deno.args[0] ?? 200);
  const pki = await testPki();
  const dir = await Deno.makeTempDir({ prefix: "ijr-bench-transport-" });
  for (
    const [name, pem] of Object.entries({
      "ca.crt": pki.ca.certPem,
      "server.crt": pki.server.certPem,
      "server.key": pki.server.keyPem,
    })
  ) {
    await Deno.writeTextFile(join(dir, name), pem);
  }
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", new URL(import.meta.url).pathname, "--serve", dir],
    stdout: "piped",
  }).spawn();
  const line = await server.stdout.getReader().read();
  const ports = JSON.parse(new TextDecoder().decode(line.value)) as Record<string, number>;

  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: ports.tcp });
  tcp.setNoDelay(true);
  const tls = await Deno.connectTls({
    hostname: "localhost",
    port: ports.tls,
    caCerts: [pki.ca.certPem],
  });
  const byte = new Uint8Array(1);
  const pingPong = (conn: Deno.Conn) => async () => {
    await conn.write(byte);
    if ((await conn.read(new Uint8Array(16))) !== 1) throw new Error("no echo");
  };
  const session = http2.connect(`https://localhost:${ports.h2}`, {
    ca: pki.ca.certPem,
    cert: pki.alice.certPem,
    key: pki.alice.keyPem,
  });
  const payload = Buffer.alloc(69);
  const h2Call = () =>
    new Promise<void>((resolve, reject) => {
      const request = session.request({
        ":method": "POST",
        ":path": ECHO_PATH,
        "content-type": "application/grpc",
        te: "trailers",
      });
      request.on("data", () => {});
      request.on("end", resolve);
      request.on("error", reject);
      request.end(payload);
    });
  const client = new grpc.Client(
    `localhost:${ports.grpc}`,
    clientCredentials({
      caPem: pki.ca.certPem,
      certPem: pki.alice.certPem,
      keyPem: pki.alice.keyPem,
    }),
  );
  const bytes = (value: Buffer) => value;
  const grpcCall = () =>
    new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest(
        ECHO_PATH,
        bytes,
        bytes,
        payload.subarray(0, 64),
        new grpc.Metadata(),
        {},
        (error) => error ? reject(error) : resolve(),
      )
    );
  const cases: Record<string, () => Promise<void>> = {
    "TCP, 1-byte ping-pong": pingPong(tcp),
    "TLS (Deno), 1-byte ping-pong": pingPong(tls),
    "node:http2, mutual TLS, one request": h2Call,
    "grpc-js unary echo, mutual TLS": grpcCall,
  };
  const names = Object.keys(cases);
  for (const call of Object.values(cases)) for (let i = 0; i < 100; i++) await call();
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
  for (const rest of [0, REST_MS]) {
    const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let round = 0; round < calls; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length];
        if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
        const started = performance.now();
        await cases[name]();
        samples[name].push(performance.now() - started);
      }
    }
    const base = median(samples[names[1]]);
    console.log(rest === 0 ? "\nwarm (back to back)" : `\nafter a ${rest} ms rest`);
    for (const name of names) {
      const m = median(samples[name]);
      console.log(
        `  ${name.padEnd(38)} ${m.toFixed(3).padStart(7)} ms  ${(m / base).toFixed(1)}x TLS`,
      );
    }
  }
  // Closing the HTTP/2 session can abort Deno 2.9's nghttp2 (an assertion on the GOAWAY, seen
  // in this project's probes): the results are out, the process just ends.
  client.close();
  tcp.close();
  tls.close();
  server.kill();
  await server.status;
  await Deno.remove(dir, { recursive: true });
  Deno.exit(0);
}

if (Deno.args[0] === "--serve") await serve(Deno.args[1]);
else await main();
