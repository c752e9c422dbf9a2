/**
 * The floor of ijrctl's stack for bench/cli_startup_bench.ts: a script that imports grpc-js
 * and makes one mutual-TLS unary call (ListJobs, the bytes of an empty request; the answer's
 * bytes are not decoded), with the TLS options ijrctl uses and nothing else: no protobuf, no
 * commander, no config file. With --warm-tls it starts aws-lc's random seeding first, as
 * ijrctl does (ctl.ts), so that trick is no part of the gap.
 *
 * Run: .tools/bin/deno run -A bench/grpc_floor_client.ts HOST:PORT CA CERT KEY [--warm-tls]
 * @module
 */

if (Deno.args.includes("--warm-tls")) {
  crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"])
    .catch(() => {});
}
const grpc = await import("@grpc/grpc-js");
const { Buffer } = await import("node:buffer");
const { createSecureContext } = await import("node:tls");

const [address, ca, cert, key] = Deno.args;
const credentials = grpc.credentials.createFromSecureContext(createSecureContext({
  ca: Deno.readTextFileSync(ca),
  cert: Deno.readTextFileSync(cert),
  key: Deno.readTextFileSync(key),
  minVersion: "TLSv1.3",
  maxVersion: "TLSv1.3",
  ciphers: "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
}));
const client = new grpc.Client(address, credentials);
const bytes = (value: Uint8Array) => Buffer.from(value);
const answer = await new Promise<Uint8Array>((resolve, reject) =>
  client.makeUnaryRequest(
    "/ijr.v1.JobService/ListJobs",
    bytes,
    bytes,
    new Uint8Array(),
    new grpc.Metadata(),
    {},
    (error, response) => error ? reject(error) : resolve(response!),
  )
);
client.close();
console.log(answer.length);
