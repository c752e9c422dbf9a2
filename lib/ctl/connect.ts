/**
 * Opens typed clients to ijrd from the config file and flags, and turns failures into the
 * one-line messages ijrctl prints.
 * @module
 */

import { JobService } from "../gen/ijr/v1/job_pb.ts";
import { RootfsService } from "../gen/ijr/v1/rootfs_pb.ts";
import {
  type ClientConfig,
  type ConfigOverrides,
  loadClientConfig,
  readTlsFiles,
} from "../config/mod.ts";
import { Channel, clientOn, RpcError, type ServiceClient } from "../rpc/client/mod.ts";

/** Clients for both services over one set of credentials. */
export interface Connection {
  readonly server: string;
  readonly jobs: ServiceClient<typeof JobService.method>;
  readonly rootfs: ServiceClient<typeof RootfsService.method>;
  close(): void;
}

/**
 * How often a connection with a call open (a wait, a followed output, a RunJob: they can last
 * as long as a job) pings ijrd, and how long an answer may take before the connection counts
 * as dead. Without pings a worker that vanished without closing its connections (powered off,
 * cut off, frozen) would hold such a call forever; with them it ends UNAVAILABLE within about
 * a minute and a half, and an attached ijrctl reconnects. ijrd answers pings at any rate.
 */
export const KEEPALIVE = { timeMs: 60_000, timeoutMs: 20_000 } as const;

/** Connection settings beyond the config file's (tests shorten the keepalive). */
export interface ConnectOptions {
  readonly keepalive?: { readonly timeMs: number; readonly timeoutMs: number };
}

/** Connects with the config file, overridden by flags. Throws a message for the user. */
export function connect(overrides: ConfigOverrides, options: ConnectOptions = {}): Connection {
  return connectTo(loadClientConfig(overrides), options);
}

/** Connects to the worker `config` names. Throws a message for the user. */
export function connectTo(config: ClientConfig, options: ConnectOptions = {}): Connection {
  // Both clients share one channel: one connection, dialled at the first call. A refused or
  // dropped connection is dialled again at the next call, without a back-off: an attached
  // ijrctl retries on its own schedule (lib/ctl/reconnect.ts) and finds a restarted ijrd
  // within a second of its listening.
  const channel = new Channel(config.server, readTlsFiles(config), {
    keepalive: options.keepalive ?? KEEPALIVE,
  });
  return {
    server: config.server,
    jobs: clientOn(JobService, channel),
    rootfs: clientOn(RootfsService, channel),
    close: () => channel.close(),
  };
}

/** The one line ijrctl prints for a failure. */
export function describeFailure(error: unknown, server?: string): string {
  if (error instanceof RpcError) {
    if (error.codeName === "UNAVAILABLE" && server) {
      return `cannot reach ijrd at ${server}: ${error.message}`;
    }
    if (error.codeName === "UNAUTHENTICATED") return `not authenticated: ${error.message}`;
    return error.message;
  }
  return (error as Error).message ?? String(error);
}

/**
 * Runs a command body with a connection: prints failures as one line on stderr and returns
 * exit code 1 for them, so every command reports errors the same way.
 */
export async function withConnection(
  name: string,
  overrides: ConfigOverrides,
  body: (connection: Connection) => Promise<number>,
): Promise<number> {
  let connection: Connection;
  try {
    connection = connect(overrides);
  } catch (error) {
    console.error(`ijrctl ${name}: ${describeFailure(error)}`);
    return 1;
  }
  try {
    return await body(connection);
  } catch (error) {
    console.error(`ijrctl ${name}: ${describeFailure(error, connection.server)}`);
    return 1;
  } finally {
    connection.close();
  }
}
