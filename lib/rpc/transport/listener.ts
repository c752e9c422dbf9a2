/**
 * ijrd's listener: TLS ends here, and each connection whose handshake passed (TLS 1.3, the three
 * suites, a client certificate from the CA, ALPN "h2": tls.ts) is served by ijrd's gRPC server
 * (server.ts).
 * @module
 */

import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import type { TlsMaterial } from "../wire/mod.ts";
import type { ConnectionInfo } from "./grpc_call.ts";
import type { RpcServer } from "./server.ts";
import { serverTlsOptions } from "./tls.ts";

/**
 * How long a client has to finish its handshake. A real client needs milliseconds; one that
 * connects and says nothing is dropped after this (Node's default of 120 s let a crowd of them
 * hold ijrd's descriptors much longer).
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** A listening mutual-TLS endpoint in front of ijrd's gRPC server. */
export interface MutualTlsListener {
  /** The port bound (the one asked for, or the one the kernel chose for 0). */
  readonly port: number;
  /** Stops accepting connections; open ones stay with the server (its drain and close). */
  close(): void;
  /**
   * Resolves once every connection this listener handed over has closed, or after `ms` (what is
   * still open then stays open): ijrd's shutdown waits, so that the last frames of each (a
   * status, a GOAWAY, a reset) are sent before it exits.
   */
  closed(ms: number): Promise<void>;
}

/**
 * Listens on `host`:`port` and serves `server`'s services to every client that passes the
 * handshake. Rejects with the listen error (EADDRINUSE, EACCES, ...) as Node gives it.
 */
export function listenMutualTls(
  server: RpcServer,
  address: { host: string; port: number },
  material: TlsMaterial,
  options: { handshakeTimeoutMs?: number } = {},
): Promise<MutualTlsListener> {
  const open = new Set<tls.TLSSocket>();
  const waiting: (() => void)[] = [];
  const tlsOptions = {
    ...serverTlsOptions(material),
    handshakeTimeout: options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
  };
  const listener = tls.createServer(tlsOptions, (socket) => {
    // Only HTTP/2 is offered; a client that agreed to nothing gets nothing.
    if (socket.alpnProtocol !== "h2") {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    open.add(socket);
    socket.once("close", () => {
      open.delete(socket);
      if (open.size === 0) { for (const resolve of waiting.splice(0)) resolve(); }
    });
    server.serve(socket, new TlsConnectionInfo(socket));
  });
  // A refused or unfinished handshake ends that connection, and only it (docs/security.md,
  // "Transport"). The socket must be closed here: Deno only reports the error, and a client
  // that connects and says nothing would otherwise hold a descriptor of ijrd's for good.
  listener.on("tlsClientError", (_error: Error, socket: tls.TLSSocket) => socket.destroy());
  return new Promise((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(address.port, address.host, () => {
      listener.removeListener("error", reject);
      // Once listening, an error (accept failing: out of descriptors) is logged; the listener
      // goes on with the next connection.
      listener.on("error", (error) => console.error(`ijr: listener: ${error.message}`));
      resolve({
        port: (listener.address() as AddressInfo).port,
        close: () => listener.close(),
        closed: (ms) =>
          open.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, ms);
            waiting.push(() => {
              clearTimeout(timer);
              resolve();
            });
          }),
      });
    });
  });
}

/** What calls know of their TLS connection: the client's certificate, read on first use. */
class TlsConnectionInfo implements ConnectionInfo {
  readonly #socket: tls.TLSSocket;
  #peer: { certificate?: { raw: Uint8Array } } | undefined;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
  }

  /**
   * Read once per connection (Deno builds a whole certificate object for it: 70 µs), and only
   * from a handshake that verified it.
   */
  get peerCertificate(): { raw: Uint8Array } | undefined {
    if (this.#peer === undefined) {
      const raw = this.#socket.authorized ? this.#socket.getPeerCertificate()?.raw : undefined;
      this.#peer = { certificate: raw ? { raw: new Uint8Array(raw) } : undefined };
    }
    return this.#peer.certificate;
  }
}
