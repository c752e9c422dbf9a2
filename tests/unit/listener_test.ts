/**
 * ijrd's TLS listener (lib/rpc/transport/listener.ts): a client that connects and never finishes
 * its handshake is dropped once the handshake's time is up, whether it says nothing or half a
 * ClientHello; otherwise such clients could hold ijrd's descriptors without a certificate.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { listenMutualTls, RpcServer } from "../../lib/rpc/transport/mod.ts";
import { testPki } from "../helpers/pki.ts";

Deno.test("listener: a client that does not finish its handshake is dropped in time", async () => {
  const pki = await testPki();
  const server = new RpcServer();
  const listener = await listenMutualTls(
    server,
    { host: "127.0.0.1", port: 0 },
    { caPem: pki.ca.certPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem },
    { handshakeTimeoutMs: 300 },
  );
  try {
    // One says nothing; one sends the first bytes of a TLS record (a handshake, 512 bytes
    // announced) and stops.
    const partial = new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]);
    const closedAfter = await Promise.all(
      [new Uint8Array(), partial].map((bytes) =>
        new Promise<number>((resolve, reject) => {
          const started = performance.now();
          const socket = net.connect(listener.port, "127.0.0.1", () => socket.write(bytes));
          socket.on("error", () => {});
          socket.on("close", () => resolve(performance.now() - started));
          setTimeout(() => {
            socket.destroy();
            reject(new Error("the listener kept a connection that never finished its handshake"));
          }, 5000);
        })
      ),
    );
    for (const ms of closedAfter) assert.ok(ms >= 250 && ms < 3000, `closed after ${ms} ms`);
  } finally {
    listener.close();
    server.close();
  }
});
