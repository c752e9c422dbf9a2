/**
 * ijrd's listener: TLS ended here, not in grpc-js, so that what a client sends reaches
 * grpc-js's HTTP/2 server through goaway_filter.ts. Each connection whose handshake passed (TLS
 * 1.3, the three suites, a client certificate from the CA, ALPN "h2": tls.ts) is injected into
 * the grpc-js server, which serves it like one of its own.
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import type { TlsMaterial } from "../wire/mod.ts";
import { FilteredConnection } from "./goaway_filter.ts";
import { serverTlsOptions } from "./tls.ts";

/**
 * How long a client has to finish its handshake. A real client needs milliseconds; one that
 * connects and says nothing is dropped after this (Node's default of 120 s let a crowd of them
 * hold ijrd's descriptors much longer).
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** A listening mutual-TLS endpoint in front of a grpc-js server. */
export interface MutualTlsListener {
  /** The port bound (the one asked for, or the one the kernel chose for 0). */
  readonly port: number;
  /** Stops accepting connections; open ones stay with the grpc-js server (its shutdown). */
  close(): void;
  /**
   * Resolves once every connection this listener handed over has closed, or after `ms` (what is
   * still open then stays open). grpc-js's own shutdown does not wait for the connections it
   * was handed: ijrd's does, so that the last frames of each (a status, a GOAWAY, a reset) are
   * sent before ijrd exits.
   */
  closed(ms: number): Promise<void>;
}

/**
 * Listens on `host`:`port` and serves `server`'s services to every client that passes the
 * handshake. Rejects with the listen error (EADDRINUSE, EACCES, ...) as Node gives it.
 */
export function listenMutualTls(
  server: grpc.Server,
  address: { host: string; port: number },
  material: TlsMaterial,
  options: { handshakeTimeoutMs?: number } = {},
): Promise<MutualTlsListener> {
  // grpc-js's own TLS is not used: the connections it is handed are plain HTTP/2.
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
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
    injector.injectConnection(new FilteredConnection(socket));
  });
  // A refused or unfinished handshake ends that connection, and only it (docs/security.md,
  // "Transport"). The socket must be closed here: Deno only reports the error, and a client
  // that connects and says nothing would otherwise hold a descriptor of ijrd's for good.
  listener.on("tlsClientError", (_error: Error, socket: tls.TLSSocket) => socket.destroy());
  return new Promise((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(address.port, address.host, () => {
      listener.removeListener("error", reject);
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
