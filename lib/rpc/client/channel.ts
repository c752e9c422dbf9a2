/**
 * A client's way to one ijrd: an address, IJR's TLS policy, and at most one HTTP/2 connection at
 * a time, made when a call needs it and made again after it has ended (the server restarted,
 * the network broke, a GOAWAY). A call that cannot get a connection fails at once with
 * UNAVAILABLE and the reason; retrying is the caller's choice (lib/ctl/reconnect.ts), so there
 * is no back-off here.
 * @module
 */

import tls from "node:tls";
import { ClientConnection, type Keepalive } from "../h2/mod.ts";
import { Code, contextOptions, RpcError, type TlsMaterial } from "../wire/mod.ts";

/** A client's TLS material; without a certificate and key it presents none (tests do). */
export type ClientTls = Omit<TlsMaterial, "certPem" | "keyPem"> & Partial<TlsMaterial>;

/** Channel settings. */
export interface ChannelOptions {
  /** Pings while calls are open; without, a dead peer is noticed only by TCP. */
  readonly keepalive?: Keepalive;
}

/** Splits "host:port" or "[v6]:port" into its parts. */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(address);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535) {
    throw new RpcError(Code.INVALID_ARGUMENT, `server address "${address}" is not host:port`);
  }
  return { host: match[1] ?? match[2], port };
}

/** One server's connections, one at a time. */
export class Channel {
  readonly address: string;
  readonly #tlsOptions: tls.ConnectionOptions;
  readonly #options: ChannelOptions;
  #connection: ClientConnection | undefined;
  #dialing: Promise<ClientConnection> | undefined;
  #closed = false;

  constructor(address: string, material: ClientTls, options: ChannelOptions = {}) {
    const { host, port } = parseAddress(address);
    this.address = address;
    this.#options = options;
    this.#tlsOptions = {
      ...contextOptions(material),
      host,
      port,
      // SNI takes names only; an address is checked against the certificate's IP entries.
      servername: /^[\d.]+$|:/.test(host) ? undefined : host,
      ALPNProtocols: ["h2"],
    };
  }

  /** A connection that accepts calls: the open one, or a new one. */
  connection(): Promise<ClientConnection> {
    if (this.#closed) {
      return Promise.reject(new RpcError(Code.UNAVAILABLE, "the client has been closed"));
    }
    if (this.#connection?.accepting) return Promise.resolve(this.#connection);
    this.#dialing ??= this.#dial().finally(() => this.#dialing = undefined);
    return this.#dialing;
  }

  /**
   * Closes the channel: new calls fail, and the connection ends once its open calls have ended
   * (a call the caller leaves open keeps it).
   */
  close(): void {
    this.#closed = true;
    const connection = this.#connection;
    if (connection === undefined) return;
    if (connection.activeStreams === 0) connection.close();
    else connection.closeWhenIdle();
  }

  #dial(): Promise<ClientConnection> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect(this.#tlsOptions);
      const fail = (error: Error) => {
        socket.destroy();
        reject(new RpcError(Code.UNAVAILABLE, error.message));
      };
      // `on`, not `once`: a refused handshake can raise a second error (a reset after the
      // alert), and an error without a listener would be thrown at the top level.
      socket.on("error", fail);
      socket.once("secureConnect", () => {
        socket.removeListener("error", fail);
        if (socket.alpnProtocol !== "h2") {
          fail(new Error(`${this.address} did not agree to HTTP/2 (ALPN "h2")`));
          return;
        }
        socket.setNoDelay(true);
        const connection = new ClientConnection(socket, { keepalive: this.#options.keepalive });
        connection.onClose(() => {
          if (this.#connection === connection) this.#connection = undefined;
        });
        if (this.#closed) {
          connection.close();
          reject(new RpcError(Code.UNAVAILABLE, "the client has been closed"));
          return;
        }
        this.#connection = connection;
        resolve(connection);
      });
    });
  }
}
